"""The ingest pipeline: bounded queue, one supervised writer, group commit, ack after commit."""
