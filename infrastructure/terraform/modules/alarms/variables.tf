variable "name_prefix" {
  description = "Prefix of the alarms' and the topic's names."
  type        = string
}

variable "function_names" {
  description = "Function names keyed by handler (the functions module's function_names output)."
  type        = map(string)

  validation {
    condition     = alltrue([for h in ["ingest", "consumer", "enrich", "persist", "analytics", "export"] : contains(keys(var.function_names), h)])
    error_message = "The function_names must name ingest, consumer, enrich, persist, analytics and export."
  }
}

variable "dead_letter_queue_name" {
  description = "Name of the dead-letter queue (the QueueName dimension)."
  type        = string
}

variable "state_machine_arn" {
  description = "ARN of the workflow's state machine (the StateMachineArn dimension)."
  type        = string
}

variable "stream_name" {
  description = "Name of the event stream (the dashboard's IncomingRecords)."
  type        = string
}

variable "api_id" {
  description = "Identifier of the HTTP API (the dashboard's request count)."
  type        = string
}

variable "tags" {
  description = "Tags of the alarms, the topic and its key."
  type        = map(string)
  default     = {}
}
