"""Prompt-injection / jailbreak guard: lexical + MiniLM cascade, shipped artifact, detector type
`prompt_guard`; the inline HTTP collector type `guard` lives in agent/inline_guard.py."""
