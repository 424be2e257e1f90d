variable "name" {
  description = "Name of the Kinesis data stream."
  type        = string
}

variable "stream_mode" {
  description = "Capacity mode of the stream: PROVISIONED (shard_count shards) or ON_DEMAND."
  type        = string
  default     = "PROVISIONED"

  validation {
    condition     = contains(["PROVISIONED", "ON_DEMAND"], var.stream_mode)
    error_message = "The stream_mode must be PROVISIONED or ON_DEMAND."
  }
}

variable "shard_count" {
  description = "Shards of the stream in PROVISIONED mode (ignored ON_DEMAND); the SAM template's StreamShardCount."
  type        = number
  default     = 2

  validation {
    condition     = var.shard_count >= 1
    error_message = "The shard_count must be at least 1."
  }
}

variable "retention_hours" {
  description = "Hours a record stays in the stream (24 to 8760); the SAM template's StreamRetentionHours."
  type        = number
  default     = 24

  validation {
    condition     = var.retention_hours >= 24 && var.retention_hours <= 8760
    error_message = "The retention_hours must be between 24 and 8760."
  }
}

variable "kms_key_id" {
  description = "KMS key (id, ARN or alias) encrypting the stream at rest."
  type        = string
  default     = "alias/aws/kinesis"
}

variable "tags" {
  description = "Tags of the stream."
  type        = map(string)
  default     = {}
}
