"""The act stage: store → route → remediate / notify (see agent.stages.act.stage)."""
from agent.stages.act.stage import ActStage

__all__ = ["ActStage"]
