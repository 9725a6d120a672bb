"""Model-extraction and abuse detection per client (detector type `extraction`)."""
