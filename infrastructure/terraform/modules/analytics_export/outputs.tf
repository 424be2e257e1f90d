output "export_bucket_name" {
  description = "Name of the bucket the export function writes the closed windows to."
  value       = module.export_bucket.bucket
}

output "export_bucket_arn" {
  description = "ARN of the export bucket."
  value       = module.export_bucket.arn
}

output "export_location" {
  description = "S3 location of the exported windows (the Glue table's location)."
  value       = aws_glue_catalog_table.windows.storage_descriptor[0].location
}

output "database_name" {
  description = "Name of the Glue database."
  value       = aws_glue_catalog_database.analytics.name
}

output "table_name" {
  description = "Name of the Glue table of the exported windows."
  value       = aws_glue_catalog_table.windows.name
}

output "workgroup_name" {
  description = "Name of the Athena workgroup querying the export."
  value       = aws_athena_workgroup.analytics.name
}

output "athena_results_bucket_name" {
  description = "Name of the bucket holding Athena's query results."
  value       = module.results_bucket.bucket
}
