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

# event attribute names that collectors write and detectors read (one spelling, here)
# audit events (collectors/audit)
AUDIT_RECORD = "audit.record"          # the record in its canonical spelling (CloudTrail unwrapped, ...)
AUDIT_LOGSOURCE = "audit.logsource"    # Sigma logsource: {"product": ..., "service": ...}
AUDIT_FORMAT = "audit.format"          # the input format that read the record
AUDIT_K8S_VIEW = "audit.k8s"           # a Kubernetes-audit-shaped view of a GKE entry
RAW = "raw"                            # the original record, as read
# inference events (collectors/inference); OpenTelemetry GenAI names where one exists
MODEL_NAME = "model.name"
MODEL_VERSION = "model.version"
CLIENT_ID = "client.id"
CLIENT_IP = "client.ip"
API_KEY_ID = "api_key.id"              # a hash of the API key (agent never keeps the key itself)
PROMPT = "gen_ai.prompt"
PROMPT_LENGTH = "gen_ai.prompt.length"
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_USER = "gen_ai.request.user"
PREDICTION = "inference.prediction"
PROBABILITY = "inference.probability"
LATENCY_MS = "inference.latency_ms"
PROTOCOL = "inference.protocol"
FEATURE_PREFIX = "feature."            # feature.<name>: one model input
#: attributes that name who sent a request, most specific first
CLIENT_KEYS = (CLIENT_ID, API_KEY_ID, CLIENT_IP)
