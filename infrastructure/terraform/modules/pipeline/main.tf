# The whole pipeline in one account: HTTP API -> ingest -> Kinesis -> consumer (DLQ on failure) -> Express
# workflow (enrich, persist to the curated table, analytics to the aggregates table) -> export to S3 for
# Athena, with the alarms and the dashboard. Objects dropped into the raw-events bucket are ingested too.
# The names are <name>-<part>.

locals {
  workflow_name = "${var.name}-workflow"
}

module "stream" {
  source = "../stream"

  name            = "${var.name}-events"
  stream_mode     = var.stream_mode
  shard_count     = var.stream_shard_count
  retention_hours = var.stream_retention_hours
  tags            = var.tags
}

module "dlq" {
  source = "../dlq"

  name = "${var.name}-dlq"
  tags = var.tags
}

module "curated_table" {
  source = "../table"

  name       = "${var.name}-curated"
  hash_key   = "id"
  attributes = [{ name = "id", type = "S" }]
  tags       = var.tags
}

module "aggregates_table" {
  source = "../table"

  name      = "${var.name}-aggregates"
  hash_key  = "pk"
  range_key = "sk"
  attributes = [
    { name = "pk", type = "S" },
    { name = "sk", type = "S" },
    { name = "hour", type = "S" },
  ]
  global_secondary_indexes = [
    { name = "byHour", hash_key = "hour", range_key = "sk", projection_type = "ALL" },
  ]
  tags = var.tags
}

module "analytics_export" {
  source = "../analytics_export"

  name                  = var.name
  export_prefix         = var.export_prefix
  export_retention_days = var.export_retention_days
  database_name         = var.analytics_database_name
  tags                  = var.tags
}

module "functions" {
  source = "../functions"

  name_prefix                      = var.name
  build_dir                        = var.build_dir
  stream_name                      = module.stream.name
  stream_arn                       = module.stream.arn
  dead_letter_queue_arn            = module.dlq.arn
  curated_table_name               = module.curated_table.name
  curated_table_arn                = module.curated_table.arn
  aggregates_table_name            = module.aggregates_table.name
  aggregates_table_arn             = module.aggregates_table.arn
  workflow_name                    = local.workflow_name
  export_bucket_name               = module.analytics_export.export_bucket_name
  export_prefix                    = var.export_prefix
  window_size                      = var.window_size
  allowed_lateness                 = var.allowed_lateness
  consumer_batch_size              = var.consumer_batch_size
  consumer_batching_window_seconds = var.consumer_batching_window_seconds
  consumer_parallelization_factor  = var.consumer_parallelization_factor
  consumer_max_retries             = var.consumer_max_retries
  consumer_max_record_age_seconds  = var.consumer_max_record_age_seconds
  raw_events_retention_days        = var.raw_events_retention_days
  tags                             = var.tags
}

module "workflow" {
  source = "../workflow"

  name                   = local.workflow_name
  enrich_function_arn    = module.functions.function_arns["enrich"]
  persist_function_arn   = module.functions.function_arns["persist"]
  analytics_function_arn = module.functions.function_arns["analytics"]
  tags                   = var.tags
}

module "api" {
  source = "../api"

  name                 = "${var.name}-api"
  ingest_function_name = module.functions.function_names["ingest"]
  ingest_invoke_arn    = module.functions.invoke_arns["ingest"]
  authorization_type   = var.api_authorization_type
  jwt_issuer           = var.jwt_issuer
  jwt_audience         = var.jwt_audience
  tags                 = var.tags
}

module "alarms" {
  source = "../alarms"

  name_prefix            = var.name
  function_names         = module.functions.function_names
  dead_letter_queue_name = module.dlq.name
  state_machine_arn      = module.workflow.arn
  stream_name            = module.stream.name
  api_id                 = module.api.api_id
  tags                   = var.tags
}
