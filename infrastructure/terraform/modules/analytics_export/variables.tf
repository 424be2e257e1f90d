variable "name" {
  description = "Prefix of the buckets' and the workgroup's names."
  type        = string
}

variable "export_prefix" {
  description = "Key prefix of the closed windows in the export bucket (the Glue table's location)."
  type        = string
  default     = "aggregates"
}

variable "export_retention_days" {
  description = "Days an exported object is kept before the bucket's lifecycle removes it."
  type        = number
  default     = 400
}

variable "database_name" {
  description = "Name of the Glue database holding the windows table (lower case, digits and underscores)."
  type        = string
  default     = "sdp_analytics"

  validation {
    condition     = can(regex("^[a-z0-9_]{1,255}$", var.database_name))
    error_message = "The database_name must be 1 to 255 lower-case letters, digits and underscores."
  }
}

variable "tags" {
  description = "Tags of the buckets and the workgroup."
  type        = map(string)
  default     = {}
}
