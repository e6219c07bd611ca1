"""Past one process: an OpenAI-compatible client (`client`), load tests (`loadtest`),
managed `transformers serve` servers (`servers`)."""
