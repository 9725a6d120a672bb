"""Inference traffic: record formats (warden-inference, openai-chat, kserve-v2) and the inline guard."""
