"""LLMOps pillar: gateway, tracing, prompts, evaluations, guardrails, RAG."""
