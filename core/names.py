"""Well-known names shared across components: topics, metric names of the bundled scenario."""

# topic suffixes; the full name is prefix + suffix (prefix "warden." by default)
TOPICS = ("telemetry", "audit", "inference", "findings", "alerts", "actions", "deadletter", "blocklist", "retrain")
TOPIC_OF_KIND = {"metric": "telemetry", "trace": "telemetry", "log": "telemetry",
                 "audit": "audit", "inference": "inference"}

# metric names (OpenTelemetry semantic conventions where one exists)
GPU_MEMORY_USED = "gpu.memory.used"            # bytes, entity = node, attr gpu.index
GPU_UTILIZATION = "gpu.utilization"            # 0..1
GPU_TEMPERATURE = "gpu.temperature"            # celsius
GPU_XID_ERRORS = "gpu.xid.errors"              # count per interval
TRAIN_STEP_DURATION = "training.step.duration"  # seconds, entity = node, attr job.name
HTTP_SERVER_DURATION = "http.server.request.duration"  # seconds, entity = endpoint
HTTP_SERVER_ERRORS = "http.server.request.errors"      # errors per interval, entity = endpoint
HTTP_SERVER_REQUESTS = "http.server.request.count"     # requests per interval, entity = endpoint
