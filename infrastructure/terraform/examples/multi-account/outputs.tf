output "staging_ingest_url" {
  description = "Ingest URL of the staging deployment."
  value       = module.staging.ingest_url
}

output "production_ingest_url" {
  description = "Ingest URL of the production deployment."
  value       = module.production.ingest_url
}

output "staging_alarm_topic_arn" {
  description = "Alarm topic of the staging account."
  value       = module.staging.alarm_topic_arn
}

output "production_alarm_topic_arn" {
  description = "Alarm topic of the production account."
  value       = module.production.alarm_topic_arn
}

output "staging_workflow_log_group" {
  description = "Execution log of the staging workflow (sdp executions --log-group)."
  value       = module.staging.workflow_log_group
}

output "production_workflow_log_group" {
  description = "Execution log of the production workflow (sdp executions --log-group)."
  value       = module.production.workflow_log_group
}
