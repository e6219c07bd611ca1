"""Past one process: an OpenAI-compatible client, load tests, managed
`transformers serve` servers."""
