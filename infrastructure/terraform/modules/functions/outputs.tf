output "function_names" {
  description = "Function names keyed by handler (ingest, consumer, enrich, persist, analytics, export)."
  value       = { for k, f in aws_lambda_function.this : k => f.function_name }
}

output "function_arns" {
  description = "Function ARNs keyed by handler."
  value       = { for k, f in aws_lambda_function.this : k => f.arn }
}

output "invoke_arns" {
  description = "Function invoke ARNs (for API Gateway integrations) keyed by handler."
  value       = { for k, f in aws_lambda_function.this : k => f.invoke_arn }
}

output "role_arns" {
  description = "Execution role ARNs keyed by handler."
  value       = { for k, r in aws_iam_role.function : k => r.arn }
}

output "event_source_mapping_uuid" {
  description = "Identifier of the consumer's Kinesis event source mapping."
  value       = aws_lambda_event_source_mapping.consumer.uuid
}

output "raw_events_bucket_name" {
  description = "Bucket whose new objects of events the ingest function reads (through EventBridge)."
  value       = module.raw_events_bucket.bucket
}
