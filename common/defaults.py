"""Every agreed name and default, defined once (no imports: it ships everywhere).

``scones.settings.Settings`` resolves each one against the environment for the
platform, and passes the values down: pipeline keyword arguments, the workflow's
handler factories, the template's parameter defaults. The step scripts and the
Lambdas, which run where ``Settings`` does not, take them from here as their own
defaults, so the laptop, SageMaker and Lambda agree on one value.
"""

#: The workflow's confidence bar: below it an image goes to human review.
CONFIDENCE_THRESHOLD = 0.93
#: The share of confident images the workflow also sends to a person, so live accuracy covers them too.
REVIEW_SAMPLE = 0.02
#: The Model Package Group the pipeline registers into and the endpoint, dashboard and CLI read.
MODEL_PACKAGE_GROUP = "SconesModels"
#: The training pipeline's and the monitoring pipeline's names.
PIPELINE_NAME = "SconesPipeline"
MONITOR_PIPELINE_NAME = "SconesMonitor"
BATCH_PIPELINE_NAME = "SconesBatch"
#: The SageMaker endpoint (and the local one) the workflow's classifier calls.
ENDPOINT_NAME = "scones-endpoint"
#: Where a local run's "S3" data and code live in the artifact store, and the job-name prefix.
LOCAL_BUCKET = "scones-local"
BASE_PREFIX = "scones"
#: Under the base prefix: reviewed images staged for training (``scones review export``), the
#: pipeline's ``ReviewedDataUrl``. Beside ``data/``, not in it: an image folder at the data prefix
#: would read it as a class, and every object there starts a run.
REVIEWED_PATH = "reviewed"
#: The export writes this last, so a rule on its key starts one run per export, not one per image.
REVIEW_EXPORT_MANIFEST = "review-export.json"
#: The project's own use case: CIFAR-100's bicycle vs motorcycle.
DEFAULT_CLASSES = ("bicycle", "motorcycle")
#: Where evaluation.json keeps its metrics (SageMaker's model-quality shape: ``<key>.<metric>.value``).
METRICS_KEY = "multiclass_classification_metrics"
#: The key path of the accuracy in evaluation.json: the pipeline's ConditionStep reads exactly this.
ACCURACY_JSON_PATH = "multiclass_classification_metrics.accuracy.value"
EVALUATION_FILE = "evaluation.json"
#: The monitoring pipeline's RetrainPipeline value meaning "alert only" (EventBridge sends no empty values).
NO_RETRAIN = "none"
#: A model package's approval statuses, as SageMaker spells them.
PENDING_APPROVAL, APPROVED, REJECTED = "PendingManualApproval", "Approved", "Rejected"
#: The EventBridge events this project reacts to, and their source.
SAGEMAKER_EVENT_SOURCE = "aws.sagemaker"
MODEL_PACKAGE_EVENT = "SageMaker Model Package State Change"
PIPELINE_EXECUTION_EVENT = "SageMaker Model Building Pipeline Execution Status Change"
#: Request content types the endpoint accepts, and its answer's.
IMAGE_CONTENT_TYPES = ("image/png", "image/jpeg", "application/x-image")
JSON_CONTENT_TYPE = "application/json"
NPY_CONTENT_TYPE = "application/x-npy"
#: Shadow variants' names start with this: their capture folder is kept out of live monitoring.
SHADOW_VARIANT_PREFIX = "shadow-"
#: How an endpoint is deployed (``scones.deploy.modes``): real-time or serverless, and a new version's rollout.
DEPLOY_MODE = "realtime"
ROLLOUT = "all-at-once"
SERVERLESS_MEMORY_MB = 2048
SERVERLESS_MAX_CONCURRENCY = 20
