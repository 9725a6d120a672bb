"""Pipeline stages: collect → detect → decide → act. Each is a consumer group on the bus."""
STAGES = ("collect", "detect", "decide", "act")


def stage_class(name: str):
    from agent.stages.act import ActStage
    from agent.stages.collect import CollectStage
    from agent.stages.decide import DecideStage
    from agent.stages.detect import DetectStage
    classes = {"collect": CollectStage, "detect": DetectStage, "decide": DecideStage, "act": ActStage}
    if name not in classes:
        raise ValueError(f"unknown stage {name!r} (one of {', '.join(STAGES)})")
    return classes[name]
