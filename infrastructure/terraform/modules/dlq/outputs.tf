output "arn" {
  description = "ARN of the queue (the event source mapping's on-failure destination)."
  value       = aws_sqs_queue.this.arn
}

output "url" {
  description = "URL of the queue."
  value       = aws_sqs_queue.this.url
}

output "name" {
  description = "Name of the queue (the DeadLetterQueueDepthAlarm's QueueName dimension)."
  value       = aws_sqs_queue.this.name
}
