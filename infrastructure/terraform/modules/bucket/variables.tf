variable "name_prefix" {
  description = "Prefix of the bucket's name; S3 appends a unique suffix."
  type        = string
}

variable "expirations" {
  description = "Expiration rules: each removes the objects under prefix (the whole bucket when prefix is null) days after they were written."
  type = list(object({
    id     = string
    prefix = optional(string)
    days   = number
  }))
  default = []
}

variable "eventbridge" {
  description = "Send the bucket's events (Object Created, ...) to EventBridge."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for the bucket."
  type        = map(string)
  default     = {}
}
