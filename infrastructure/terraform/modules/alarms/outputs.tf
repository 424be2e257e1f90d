output "topic_arn" {
  description = "ARN of the SNS topic the alarms send to (subscribe to it)."
  value       = aws_sns_topic.alarm_topic.arn
}

output "alarm_names" {
  description = "CloudWatch alarm names keyed by the SAM template's logical ids."
  value       = { for k, a in aws_cloudwatch_metric_alarm.this : k => a.alarm_name }
}

output "topic_key_arn" {
  description = "ARN of the KMS key encrypting the alarm topic."
  value       = aws_kms_key.alarm_topic.arn
}

output "dashboard_name" {
  description = "Name of the pipeline's CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}
