output "topic_arn" {
  description = "ARN of the SNS topic the alarms send to (subscribe to it)."
  value       = aws_sns_topic.alarm_topic.arn
}

output "alarm_names" {
  description = "CloudWatch alarm names keyed by the SAM template's logical ids."
  value       = { for k, a in aws_cloudwatch_metric_alarm.this : k => a.alarm_name }
}
