"""The local store and keeping it current: the crawl, fetch-ahead, sync, the Parquet files."""
