variable "name" {
  description = "Name of the state machine (and of its role and log group)."
  type        = string
}

variable "definition_path" {
  description = "The workflow's Amazon States Language file; null for the repository's workflow/definition.asl.json."
  type        = string
  default     = null
}

variable "enrich_function_arn" {
  description = "ARN of the enrich function (the definition's EnrichFunctionArn)."
  type        = string
}

variable "persist_function_arn" {
  description = "ARN of the persist function (the definition's PersistFunctionArn)."
  type        = string
}

variable "analytics_function_arn" {
  description = "ARN of the analytics function (the definition's AnalyticsFunctionArn)."
  type        = string
}

variable "log_retention_days" {
  description = "Days the execution log keeps its events."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags of the state machine, its role and log group."
  type        = map(string)
  default     = {}
}
