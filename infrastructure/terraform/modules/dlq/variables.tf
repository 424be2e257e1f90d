variable "name" {
  description = "Name of the dead-letter queue."
  type        = string
}

variable "message_retention_seconds" {
  description = "Seconds a failed batch's record stays in the queue (the SQS maximum, 14 days, by default)."
  type        = number
  default     = 1209600
}

variable "kms_key_id" {
  description = "KMS key encrypting the queue; null keeps SQS-managed encryption (SSE-SQS)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags of the queue."
  type        = map(string)
  default     = {}
}
