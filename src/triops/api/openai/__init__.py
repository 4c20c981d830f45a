"""The OpenAI wire protocol (``/v1/chat/completions``, ``/v1/embeddings``, ``/v1/models``)
and the native API that configures the gateway behind it (``/api/v1/gateway/...``)."""
