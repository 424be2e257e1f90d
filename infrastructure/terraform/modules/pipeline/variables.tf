variable "name" {
  description = "Name of the deployment, the prefix of every resource's name."
  type        = string
}

variable "build_dir" {
  description = "Directory `make lambda` writes to (the repository's bin/lambda)."
  type        = string
}

variable "raw_events_retention_days" {
  description = "Days an object dropped into the raw-events bucket (and its errors and progress objects) is kept."
  type        = number
  default     = 30
}

variable "export_retention_days" {
  description = "Days an exported object is kept before the export bucket's lifecycle removes it."
  type        = number
  default     = 400
}

variable "analytics_database_name" {
  description = "Name of the Glue database holding the export's table (lower case, digits and underscores)."
  type        = string
  default     = "sdp_analytics"
}

variable "export_prefix" {
  description = "Key prefix of the closed windows in the export bucket."
  type        = string
  default     = "aggregates"
}

variable "window_size" {
  description = "Length of the analytics windows (a Go duration dividing a day)."
  type        = string
  default     = "1m"
}

variable "allowed_lateness" {
  description = "How long after its end a window still takes events (a Go duration)."
  type        = string
  default     = "5m"
}

variable "stream_mode" {
  description = "Capacity mode of the stream: PROVISIONED or ON_DEMAND."
  type        = string
  default     = "PROVISIONED"
}

variable "stream_shard_count" {
  description = "Shards of the stream in PROVISIONED mode."
  type        = number
  default     = 2
}

variable "stream_retention_hours" {
  description = "Hours a record stays in the stream."
  type        = number
  default     = 24
}

variable "consumer_batch_size" {
  description = "Largest batch of records the consumer receives."
  type        = number
  default     = 100
}

variable "consumer_batching_window_seconds" {
  description = "Seconds the event source mapping gathers records before invoking."
  type        = number
  default     = 0
}

variable "consumer_parallelization_factor" {
  description = "Concurrent batches per shard."
  type        = number
  default     = 2
}

variable "consumer_max_retries" {
  description = "Retries of a failed batch before its records go to the dead-letter queue."
  type        = number
  default     = 3
}

variable "consumer_max_record_age_seconds" {
  description = "Age past which a record is no longer retried."
  type        = number
  default     = 3600
}

variable "api_authorization_type" {
  description = "Authorization of POST /v1/events: AWS_IAM or JWT."
  type        = string
  default     = "AWS_IAM"
}

variable "jwt_issuer" {
  description = "Issuer URL of the JWT authorizer (with api_authorization_type JWT)."
  type        = string
  default     = null
}

variable "jwt_audience" {
  description = "Accepted audiences of the JWT authorizer (with api_authorization_type JWT)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}
