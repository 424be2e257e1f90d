output "ingest_url" {
  description = "POST events here."
  value       = module.api.ingest_url
}

output "stream_arn" {
  description = "ARN of the event stream."
  value       = module.stream.arn
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue."
  value       = module.dlq.url
}

output "curated_table_name" {
  description = "Name of the curated events table."
  value       = module.curated_table.name
}

output "aggregates_table_name" {
  description = "Name of the aggregates table."
  value       = module.aggregates_table.name
}

output "workflow_arn" {
  description = "The Express state machine the consumer starts once per batch."
  value       = module.workflow.arn
}

output "workflow_log_group" {
  description = "The workflow's execution log, which `sdp executions --log-group` reads."
  value       = module.workflow.log_group_name
}

output "function_names" {
  description = "Function names keyed by handler."
  value       = module.functions.function_names
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms."
  value       = module.alarms.topic_arn
}

output "raw_events_bucket_name" {
  description = "Drop objects of events here to ingest them whole."
  value       = module.functions.raw_events_bucket_name
}

output "export_bucket_name" {
  description = "Bucket the export function writes the closed windows to."
  value       = module.analytics_export.export_bucket_name
}

output "export_location" {
  description = "S3 location of the exported windows."
  value       = module.analytics_export.export_location
}

output "analytics_database" {
  description = "Glue database of the exported windows."
  value       = module.analytics_export.database_name
}

output "athena_workgroup" {
  description = "Athena workgroup querying the export."
  value       = module.analytics_export.workgroup_name
}

output "athena_results_bucket_name" {
  description = "Bucket of Athena's query results."
  value       = module.analytics_export.athena_results_bucket_name
}

output "dashboard_name" {
  description = "The pipeline's CloudWatch dashboard."
  value       = module.alarms.dashboard_name
}
