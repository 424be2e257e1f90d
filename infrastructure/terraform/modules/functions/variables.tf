variable "name_prefix" {
  description = "Prefix of the functions' names, roles and log groups (<prefix>-<handler>)."
  type        = string
}

variable "build_dir" {
  description = "Directory `make lambda` writes to: it holds <handler>/bootstrap for each function."
  type        = string
}

variable "stream_name" {
  description = "Name of the event stream (EVENT_STREAM)."
  type        = string
}

variable "stream_arn" {
  description = "ARN of the event stream the ingest function writes and the consumer reads."
  type        = string
}

variable "dead_letter_queue_arn" {
  description = "ARN of the SQS queue receiving the consumer's failed records."
  type        = string
}

variable "curated_table_name" {
  description = "Name of the curated events table (CURATED_TABLE)."
  type        = string
}

variable "curated_table_arn" {
  description = "ARN of the curated events table."
  type        = string
}

variable "aggregates_table_name" {
  description = "Name of the aggregates table (AGGREGATES_TABLE)."
  type        = string
}

variable "aggregates_table_arn" {
  description = "ARN of the aggregates table."
  type        = string
}

variable "workflow_name" {
  description = "Name of the Express state machine the consumer starts (WORKFLOW_ARN is built from it)."
  type        = string
}

variable "export_bucket_name" {
  description = "Name of the S3 bucket the export function writes the closed windows to."
  type        = string
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

variable "consumer_batch_size" {
  description = "Largest batch of records the consumer receives (1 to 10000)."
  type        = number
  default     = 100
}

variable "consumer_batching_window_seconds" {
  description = "Seconds the event source mapping gathers records before invoking (0 to 300)."
  type        = number
  default     = 0
}

variable "consumer_parallelization_factor" {
  description = "Concurrent batches per shard (1 to 10)."
  type        = number
  default     = 2
}

variable "consumer_max_retries" {
  description = "Retries of a failed batch before its records go to the dead-letter queue (-1 for no limit)."
  type        = number
  default     = 3
}

variable "consumer_max_record_age_seconds" {
  description = "Age past which a record is no longer retried (-1 for no limit)."
  type        = number
  default     = 3600
}

variable "log_retention_days" {
  description = "Days the functions' log groups keep their logs."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags of the functions, roles, log groups and schedule."
  type        = map(string)
  default     = {}
}

variable "raw_events_retention_days" {
  description = "Days an object dropped into the raw-events bucket (and its errors and progress objects) is kept."
  type        = number
  default     = 30
}
