"""HTTP routes grouped by surface. Routes decode, call the pipeline or the query layer, and answer."""
