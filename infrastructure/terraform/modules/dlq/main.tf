# The consumer's on-failure destination: records of batches that exhausted their retries or their age.
resource "aws_sqs_queue" "this" {
  name                      = var.name
  message_retention_seconds = var.message_retention_seconds
  sqs_managed_sse_enabled   = var.kms_key_id == null ? true : null
  kms_master_key_id         = var.kms_key_id

  tags = var.tags
}
