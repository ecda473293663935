-- The SQLite database a new Prefect 3.9.1 server creates: migrations and block types.
-- Written by `python -m flows.schema_snapshot`; new local servers' databases start from it.
-- block registry: prefect-redis==0.3.0, prefect==3.9.1
BEGIN TRANSACTION;
CREATE TABLE agent (
	id CHAR(36) DEFAULT (
    (
        lower(hex(randomblob(4))) 
        || '-' 
        || lower(hex(randomblob(2))) 
        || '-4' 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || substr('89ab',abs(random()) % 4 + 1, 1) 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || lower(hex(randomblob(6)))
    )
    ) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	name VARCHAR NOT NULL, 
	last_activity_time DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	work_queue_id CHAR(36) NOT NULL, 
	CONSTRAINT pk_agent PRIMARY KEY (id), 
	CONSTRAINT fk_agent__work_queue_id__work_queue FOREIGN KEY(work_queue_id) REFERENCES work_queue (id), 
	CONSTRAINT uq_agent__name UNIQUE (name)
);
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO "alembic_version" VALUES('27d8f4e1a6c9');
CREATE TABLE "artifact" (
	id CHAR(36) DEFAULT ((
        lower(hex(randomblob(4)))
        || '-'
        || lower(hex(randomblob(2)))
        || '-4'
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || substr('89ab',abs(random()) % 4 + 1, 1)
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || lower(hex(randomblob(6)))
    )) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	"key" VARCHAR, 
	type VARCHAR, 
	data JSON, 
	metadata_ JSON, 
	task_run_id CHAR(36), 
	flow_run_id CHAR(36), description VARCHAR, 
	CONSTRAINT pk_artifact PRIMARY KEY (id)
);
CREATE TABLE artifact_collection (
	id CHAR(36) DEFAULT (
    (
        lower(hex(randomblob(4)))
        || '-'
        || lower(hex(randomblob(2)))
        || '-4'
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || substr('89ab',abs(random()) % 4 + 1, 1)
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || lower(hex(randomblob(6)))
    )
    ) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	"key" VARCHAR NOT NULL, 
	latest_id CHAR(36) NOT NULL, task_run_id CHAR(36), flow_run_id CHAR(36), type VARCHAR, data JSON, description VARCHAR, metadata_ JSON, 
	CONSTRAINT pk_artifact_collection PRIMARY KEY (id), 
	CONSTRAINT uq_artifact_collection__key UNIQUE ("key")
);
CREATE TABLE automation (
	name VARCHAR NOT NULL, 
	description VARCHAR NOT NULL, 
	enabled BOOLEAN DEFAULT '1' NOT NULL, 
	"trigger" JSON NOT NULL, 
	actions JSON NOT NULL, 
	actions_on_trigger JSON DEFAULT '[]' NOT NULL, 
	actions_on_resolve JSON DEFAULT '[]' NOT NULL, 
	id CHAR(36) DEFAULT (
    (
        lower(hex(randomblob(4)))
        || '-'
        || lower(hex(randomblob(2)))
        || '-4'
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || substr('89ab',abs(random()) % 4 + 1, 1)
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || lower(hex(randomblob(6)))
    )
    ) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, tags JSON DEFAULT '[]' NOT NULL, 
	CONSTRAINT pk_automation PRIMARY KEY (id)
);
CREATE TABLE "automation_bucket" (
	automation_id CHAR(36) NOT NULL, 
	trigger_id CHAR(36) NOT NULL, 
	bucketing_key JSON NOT NULL, 
	last_event JSON, 
	start DATETIME NOT NULL, 
	"end" DATETIME NOT NULL, 
	count INTEGER NOT NULL, 
	last_operation VARCHAR, 
	triggered_at DATETIME, 
	id CHAR(36) DEFAULT ((
        lower(hex(randomblob(4)))
        || '-'
        || lower(hex(randomblob(2)))
        || '-4'
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || substr('89ab',abs(random()) % 4 + 1, 1)
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || lower(hex(randomblob(6)))
    )) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	CONSTRAINT pk_automation_bucket PRIMARY KEY (id), 
	CONSTRAINT fk_automation_bucket__automation_id__automation FOREIGN KEY(automation_id) REFERENCES automation (id) ON DELETE CASCADE
);
CREATE TABLE "automation_event_follower" (
	leader_event_id CHAR(36) NOT NULL, 
	follower_event_id CHAR(36) NOT NULL, 
	received DATETIME NOT NULL, 
	follower JSON NOT NULL, 
	id CHAR(36) DEFAULT ((
        lower(hex(randomblob(4)))
        || '-'
        || lower(hex(randomblob(2)))
        || '-4'
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || substr('89ab',abs(random()) % 4 + 1, 1)
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || lower(hex(randomblob(6)))
    )) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	scope VARCHAR NOT NULL, 
	CONSTRAINT pk_automation_event_follower PRIMARY KEY (id)
);
CREATE TABLE automation_held_event (
	automation_id CHAR(36) NOT NULL, 
	trigger_id CHAR(36) NOT NULL, 
	bucketing_key JSON DEFAULT '[]' NOT NULL, 
	event_id CHAR(36) NOT NULL, 
	occurred DATETIME NOT NULL, 
	id CHAR(36) DEFAULT (
    (
        lower(hex(randomblob(4)))
        || '-'
        || lower(hex(randomblob(2)))
        || '-4'
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || substr('89ab',abs(random()) % 4 + 1, 1)
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || lower(hex(randomblob(6)))
    )
    ) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	CONSTRAINT pk_automation_held_event PRIMARY KEY (id), 
	CONSTRAINT fk_automation_held_event__automation_id__automation FOREIGN KEY(automation_id) REFERENCES automation (id) ON DELETE CASCADE
);
CREATE TABLE automation_related_resource (
	automation_id CHAR(36) NOT NULL, 
	resource_id VARCHAR, 
	automation_owned_by_resource BOOLEAN DEFAULT '0' NOT NULL, 
	id CHAR(36) DEFAULT (
    (
        lower(hex(randomblob(4)))
        || '-'
        || lower(hex(randomblob(2)))
        || '-4'
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || substr('89ab',abs(random()) % 4 + 1, 1)
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || lower(hex(randomblob(6)))
    )
    ) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	CONSTRAINT pk_automation_related_resource PRIMARY KEY (id), 
	CONSTRAINT fk_automation_related_resource__automation_id__automation FOREIGN KEY(automation_id) REFERENCES automation (id) ON DELETE CASCADE
);
CREATE TABLE "block_document" (
	id CHAR(36) DEFAULT ((
        lower(hex(randomblob(4))) 
        || '-' 
        || lower(hex(randomblob(2))) 
        || '-4' 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || substr('89ab',abs(random()) % 4 + 1, 1) 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || lower(hex(randomblob(6)))
    )) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	name VARCHAR NOT NULL, 
	data JSON DEFAULT '{}' NOT NULL, 
	block_schema_id CHAR(36) NOT NULL, 
	block_type_id CHAR(36) NOT NULL, 
	is_anonymous BOOLEAN DEFAULT '0' NOT NULL, block_type_name VARCHAR, 
	CONSTRAINT pk_block_document PRIMARY KEY (id), 
	CONSTRAINT fk_block__block_schema_id__block_schema FOREIGN KEY(block_schema_id) REFERENCES block_schema (id) ON DELETE CASCADE, 
	CONSTRAINT fk_block_document__block_type_id__block_type FOREIGN KEY(block_type_id) REFERENCES block_type (id) ON DELETE CASCADE
);
CREATE TABLE "block_document_reference" (
	id CHAR(36) DEFAULT ((
        lower(hex(randomblob(4))) 
        || '-' 
        || lower(hex(randomblob(2))) 
        || '-4' 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || substr('89ab',abs(random()) % 4 + 1, 1) 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || lower(hex(randomblob(6)))
    )) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	name VARCHAR NOT NULL, 
	parent_block_document_id CHAR(36) NOT NULL, 
	reference_block_document_id CHAR(36) NOT NULL, 
	CONSTRAINT pk_block_document_reference PRIMARY KEY (id), 
	CONSTRAINT fk_block_document_reference__parent_block_document_id__block_document FOREIGN KEY(parent_block_document_id) REFERENCES block_document (id) ON DELETE CASCADE, 
	CONSTRAINT fk_block_document_reference__reference_block_document_id__block_document FOREIGN KEY(reference_block_document_id) REFERENCES block_document (id) ON DELETE CASCADE, 
	CONSTRAINT ck_block_document_reference__ck_block_document_reference__no_self_reference CHECK (parent_block_document_id != reference_block_document_id)
);
CREATE TABLE "block_schema" (
	id CHAR(36) DEFAULT ((
        lower(hex(randomblob(4))) 
        || '-' 
        || lower(hex(randomblob(2))) 
        || '-4' 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || substr('89ab',abs(random()) % 4 + 1, 1) 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || lower(hex(randomblob(6)))
    )) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	fields JSON DEFAULT '{}' NOT NULL, 
	block_type_id CHAR(36) NOT NULL, 
	checksum VARCHAR NOT NULL, 
	capabilities JSON DEFAULT '[]' NOT NULL, version VARCHAR DEFAULT 'non-versioned' NOT NULL, 
	CONSTRAINT pk_block_schema PRIMARY KEY (id), 
	CONSTRAINT fk_block_schema__block_type_id__block_type FOREIGN KEY(block_type_id) REFERENCES block_type (id) ON DELETE CASCADE
);
INSERT INTO "block_schema" VALUES('523f97a7-389a-4d2e-9851-53d08f1883e6','2026-12-01 03:20:17.271844','2026-12-01 03:20:17.271924','{"block_type_slug": "webhook", "description": "Block that enables calling webhooks.", "properties": {"method": {"default": "POST", "description": "The webhook request method. Defaults to `POST`.", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"], "title": "Method", "type": "string", "position": 0}, "url": {"description": "The webhook URL.", "examples": ["https://hooks.slack.com/XXX"], "format": "password", "title": "Webhook URL", "type": "string", "writeOnly": true, "position": 1}, "headers": {"description": "A dictionary of headers to send with the webhook request.", "title": "Webhook Headers", "type": "object", "position": 2}, "allow_private_urls": {"default": true, "description": "Whether to allow notifications to private URLs. Defaults to True.", "title": "Allow Private Urls", "type": "boolean", "position": 3}, "verify": {"default": true, "description": "Whether or not to enforce a secure connection to the webhook.", "title": "Verify", "type": "boolean", "position": 4}}, "required": ["url"], "secret_fields": ["url", "headers.*"], "title": "Webhook", "type": "object"}','d2356d63-531e-4ee2-9f83-3bdab3c679d9','sha256:58bb03f0d84592252ad568ed9a8c899792ae5d0ad2dd4a2428e99674f9050cf1','[]','3.9.1');
INSERT INTO "block_schema" VALUES('f85e21e4-6d0a-41f3-a18f-4df9f73c9799','2026-12-01 03:20:17.301860','2026-12-01 03:20:17.301929','{"block_type_slug": "secret", "description": "A block that represents a secret value. The value stored in this block will be obfuscated when this block is viewed or edited in the UI.", "properties": {"value": {"anyOf": [{"format": "password", "type": "string", "writeOnly": true}, {"title": "string", "type": "string"}, {"$ref": "#/definitions/JsonValue", "title": "JSON"}], "description": "A value that should be kept secret.", "examples": ["sk-1234567890", {"password": "s3cr3t", "username": "johndoe"}], "format": "password", "title": "Value", "writeOnly": true, "position": 0}}, "required": ["value"], "secret_fields": ["value", "value"], "title": "Secret", "type": "object"}','856d6866-2bde-457c-aa83-f7b4b87d7524','sha256:c078ed9c1e813e224c0b353d7ad4564a11d51d3198d9ac0686478165a1911c78','[]','3.9.1');
INSERT INTO "block_schema" VALUES('565cc5c4-a62a-4717-81a5-9cfe2507cd48','2026-12-01 03:20:17.322994','2026-12-01 03:20:17.323067','{"block_type_slug": "local-file-system", "description": "Store data as a file on a local file system.", "properties": {"basepath": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "description": "Default local path for this block to write to.", "title": "Basepath", "position": 0}}, "secret_fields": [], "title": "LocalFileSystem", "type": "object"}','c8b90bc2-19a9-4ba5-ba20-081eef9d5095','sha256:0fc8b7f936f38f465715ef2df4a817ac9fe38b80bb01d5c6c9649a6da6ae6971','["write-path", "read-path", "get-directory", "put-directory"]','3.9.1');
INSERT INTO "block_schema" VALUES('cd4ab4c4-b0bd-43e2-b03c-8196464d29a8','2026-12-01 03:20:17.354660','2026-12-01 03:20:17.354740','{"block_type_slug": "slack-webhook", "description": "Enables sending notifications via a provided Slack webhook.\n\nSupports both standard Slack webhooks (hooks.slack.com) and Slack GovCloud\nwebhooks (hooks.slack-gov.com).", "properties": {"notify_type": {"default": "info", "description": "The type of notification being performed.", "enum": ["info", "success", "warning", "failure"], "title": "Notify Type", "type": "string", "position": 0}, "url": {"description": "Slack incoming webhook URL used to send notifications.", "examples": ["https://hooks.slack.com/XXX"], "format": "password", "title": "Webhook URL", "type": "string", "writeOnly": true, "position": 1}, "allow_private_urls": {"default": true, "description": "Whether to allow notifications to private URLs. Defaults to True.", "title": "Allow Private Urls", "type": "boolean", "position": 2}}, "required": ["url"], "secret_fields": ["url"], "title": "SlackWebhook", "type": "object"}','04b09b6a-4e62-42c5-8727-afb60d54af93','sha256:415bae7e5906d98e387f8848ccdfd3f3b9cdf01624f08ca228709e1193ac005f','["notify"]','3.9.1');
INSERT INTO "block_schema" VALUES('e44e1d9e-8513-4ac8-b3ac-0129fd82c7bf','2026-12-01 03:20:17.387349','2026-12-01 03:20:17.387434','{"block_type_slug": "ms-teams-webhook", "description": "Enables sending notifications via a provided Microsoft Teams webhook.", "properties": {"notify_type": {"default": "info", "description": "The type of notification being performed.", "enum": ["info", "success", "warning", "failure"], "title": "Notify Type", "type": "string", "position": 0}, "url": {"description": "The Microsoft Power Automate (Workflows) URL used to send notifications to Teams.", "examples": ["https://prod-NO.LOCATION.logic.azure.com:443/workflows/WFID/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=SIGNATURE"], "format": "password", "title": "Webhook URL", "type": "string", "writeOnly": true, "position": 1}, "allow_private_urls": {"default": true, "description": "Whether to allow notifications to private URLs. Defaults to True.", "title": "Allow Private Urls", "type": "boolean", "position": 2}, "include_image": {"default": true, "description": "Include an image with the notification.", "title": "Include Image", "type": "boolean", "position": 3}, "wrap": {"default": true, "description": "Wrap the notification text.", "title": "Wrap", "type": "boolean", "position": 4}}, "required": ["url"], "secret_fields": ["url"], "title": "MicrosoftTeamsWebhook", "type": "object"}','9df4a795-8ab0-4a67-8d50-661dd4351686','sha256:213ff858fcad8ecddb90a120636c5461fc8ad6fb2877188c9e79f07e6c390c7c','["notify"]','3.9.1');
INSERT INTO "block_schema" VALUES('46bfa673-0407-4de8-8331-ebc8dd64f856','2026-12-01 03:20:17.419424','2026-12-01 03:20:17.419534','{"block_type_slug": "pager-duty-webhook", "description": "Enables sending notifications via a provided PagerDuty webhook.", "properties": {"notify_type": {"default": "info", "description": "The severity of the notification.", "enum": ["info", "success", "warning", "failure"], "title": "Notify Type", "type": "string", "position": 0}, "integration_key": {"description": "This can be found on the Events API V2 integration''s detail page, and is also referred to as a Routing Key. This must be provided alongside `api_key`, but will error if provided alongside `url`.", "format": "password", "title": "Integration Key", "type": "string", "writeOnly": true, "position": 1}, "api_key": {"description": "This can be found under Integrations. This must be provided alongside `integration_key`, but will error if provided alongside `url`.", "format": "password", "title": "API Key", "type": "string", "writeOnly": true, "position": 2}, "source": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": "Prefect", "description": "The source string as part of the payload.", "title": "Source", "position": 3}, "component": {"default": "Notification", "description": "The component string as part of the payload.", "title": "Component", "type": "string", "position": 4}, "group": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "description": "The group string as part of the payload.", "title": "Group", "position": 5}, "class_id": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "description": "The class string as part of the payload.", "title": "Class ID", "position": 6}, "region_name": {"default": "us", "description": "The region name.", "enum": ["us", "eu"], "title": "Region Name", "type": "string", "position": 7}, "clickable_url": {"anyOf": [{"format": "uri", "minLength": 1, "type": "string"}, {"type": "null"}], "default": null, "description": "A clickable URL to associate with the notice.", "title": "Clickable URL", "position": 8}, "include_image": {"default": true, "description": "Associate the notification status via a represented icon.", "title": "Include Image", "type": "boolean", "position": 9}, "custom_details": {"anyOf": [{"additionalProperties": {"type": "string"}, "type": "object"}, {"type": "null"}], "default": null, "description": "Additional details to include as part of the payload.", "examples": ["{\"disk_space_left\": \"145GB\"}"], "title": "Custom Details", "position": 10}}, "required": ["integration_key", "api_key"], "secret_fields": ["integration_key", "api_key"], "title": "PagerDutyWebHook", "type": "object"}','a591fbfe-40b8-4e64-85e9-0c7de3a5b7bb','sha256:78ccfd9313655493e834f59f515865f3160bd395b6003d6e664fefd1a6f49c86','["notify"]','3.9.1');
INSERT INTO "block_schema" VALUES('9570b1d6-8ac0-46a8-aa61-dfb5bb32a186','2026-12-01 03:20:17.449012','2026-12-01 03:20:17.449095','{"block_type_slug": "twilio-sms", "description": "Enables sending notifications via Twilio SMS.", "properties": {"notify_type": {"default": "info", "description": "The type of notification being performed.", "enum": ["info", "success", "warning", "failure"], "title": "Notify Type", "type": "string", "position": 0}, "account_sid": {"description": "The Twilio Account SID - it can be found on the homepage of the Twilio console.", "title": "Account Sid", "type": "string", "position": 1}, "auth_token": {"description": "The Twilio Authentication Token - it can be found on the homepage of the Twilio console.", "format": "password", "title": "Auth Token", "type": "string", "writeOnly": true, "position": 2}, "from_phone_number": {"description": "The valid Twilio phone number to send the message from.", "examples": ["18001234567"], "title": "From Phone Number", "type": "string", "position": 3}, "to_phone_numbers": {"description": "A list of valid Twilio phone number(s) to send the message to.", "examples": ["[\"18004242424\", \"18004242425\"]"], "items": {"type": "string"}, "title": "To Phone Numbers", "type": "array", "position": 4}}, "required": ["account_sid", "auth_token", "from_phone_number", "to_phone_numbers"], "secret_fields": ["auth_token"], "title": "TwilioSMS", "type": "object"}','64474270-0481-4501-a0c8-72eb8a0cabf3','sha256:2ab73fedd20ff1c25ffcc47f5b4a7a86c70c307321af1262f9d03defba5c8cc6','["notify"]','3.9.1');
INSERT INTO "block_schema" VALUES('4162ea55-5cb9-4190-b7a4-11cab17a180a','2026-12-01 03:20:17.485954','2026-12-01 03:20:17.486031','{"block_type_slug": "opsgenie-webhook", "description": "Enables sending notifications via a provided Opsgenie webhook.", "properties": {"notify_type": {"default": "info", "description": "The type of notification being performed.", "enum": ["info", "success", "warning", "failure"], "title": "Notify Type", "type": "string", "position": 0}, "apikey": {"description": "The API Key associated with your Opsgenie account.", "format": "password", "title": "API Key", "type": "string", "writeOnly": true, "position": 1}, "target_user": {"anyOf": [{"items": {"type": "string"}, "type": "array"}, {"type": "null"}], "default": null, "description": "The user(s) you wish to notify.", "title": "Target User", "position": 2}, "target_team": {"anyOf": [{"items": {"type": "string"}, "type": "array"}, {"type": "null"}], "default": null, "description": "The team(s) you wish to notify.", "title": "Target Team", "position": 3}, "target_schedule": {"anyOf": [{"items": {"type": "string"}, "type": "array"}, {"type": "null"}], "default": null, "description": "The schedule(s) you wish to notify.", "title": "Target Schedule", "position": 4}, "target_escalation": {"anyOf": [{"items": {"type": "string"}, "type": "array"}, {"type": "null"}], "default": null, "description": "The escalation(s) you wish to notify.", "title": "Target Escalation", "position": 5}, "region_name": {"default": "us", "description": "The 2-character region code.", "enum": ["us", "eu"], "title": "Region Name", "type": "string", "position": 6}, "batch": {"default": false, "description": "Notify all targets in batches (instead of individually).", "title": "Batch", "type": "boolean", "position": 7}, "tags": {"anyOf": [{"items": {"type": "string"}, "type": "array"}, {"type": "null"}], "default": null, "description": "A comma-separated list of tags you can associate with your Opsgenie message.", "examples": ["[\"tag1\", \"tag2\"]"], "title": "Tags", "position": 8}, "priority": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": 3, "description": "The priority to associate with the message. It is on a scale between 1 (LOW) and 5 (EMERGENCY).", "title": "Priority", "position": 9}, "alias": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "description": "The alias to associate with the message.", "title": "Alias", "position": 10}, "entity": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "description": "The entity to associate with the message.", "title": "Entity", "position": 11}, "details": {"anyOf": [{"additionalProperties": {"type": "string"}, "type": "object"}, {"type": "null"}], "default": null, "description": "Additional details composed of key/values pairs.", "examples": ["{\"key1\": \"value1\", \"key2\": \"value2\"}"], "title": "Details", "position": 12}}, "required": ["apikey"], "secret_fields": ["apikey"], "title": "OpsgenieWebhook", "type": "object"}','36ec6648-7096-4fd6-bd45-dd1851286e49','sha256:c9d307a75b69d82460134069d071804fefde0ec2c2b9aed67c90201fee041755','["notify"]','3.9.1');
INSERT INTO "block_schema" VALUES('2f3a1931-8295-4303-b39d-16de32eb44d8','2026-12-01 03:20:17.519577','2026-12-01 03:20:17.519660','{"block_type_slug": "mattermost-webhook", "description": "Enables sending notifications via a provided Mattermost webhook.", "properties": {"notify_type": {"default": "info", "description": "The type of notification being performed.", "enum": ["info", "success", "warning", "failure"], "title": "Notify Type", "type": "string", "position": 0}, "hostname": {"description": "The hostname of your Mattermost server.", "examples": ["Mattermost.example.com"], "title": "Hostname", "type": "string", "position": 1}, "secure": {"default": false, "description": "Whether to use secure https connection.", "title": "Secure", "type": "boolean", "position": 2}, "token": {"description": "The token associated with your Mattermost webhook.", "format": "password", "title": "Token", "type": "string", "writeOnly": true, "position": 3}, "botname": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "description": "The name of the bot that will send the message.", "title": "Bot name", "position": 4}, "channels": {"anyOf": [{"items": {"type": "string"}, "type": "array"}, {"type": "null"}], "default": null, "description": "The channel(s) you wish to notify.", "title": "Channels", "position": 5}, "include_image": {"default": false, "description": "Whether to include the Apprise status image in the message.", "title": "Include Image", "type": "boolean", "position": 6}, "path": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "description": "An optional sub-path specification to append to the hostname.", "title": "Path", "position": 7}, "port": {"default": 8065, "description": "The port of your Mattermost server.", "title": "Port", "type": "integer", "position": 8}}, "required": ["hostname", "token"], "secret_fields": ["token"], "title": "MattermostWebhook", "type": "object"}','5d57c484-4f09-446b-8952-2fb225161090','sha256:34daad1160b59fb6d5c8fc59d09abb2cbf9c2283b7b9f6a76cbaad827002d14c','["notify"]','3.9.1');
INSERT INTO "block_schema" VALUES('0226d36d-57dd-48c2-ba77-9f057d8f6005','2026-12-01 03:20:17.553287','2026-12-01 03:20:17.553364','{"block_type_slug": "discord-webhook", "description": "Enables sending notifications via a provided Discord webhook.", "properties": {"notify_type": {"default": "info", "description": "The type of notification being performed.", "enum": ["info", "success", "warning", "failure"], "title": "Notify Type", "type": "string", "position": 0}, "webhook_id": {"description": "The first part of 2 tokens provided to you after creating a incoming-webhook.", "format": "password", "title": "Webhook Id", "type": "string", "writeOnly": true, "position": 1}, "webhook_token": {"description": "The second part of 2 tokens provided to you after creating a incoming-webhook.", "format": "password", "title": "Webhook Token", "type": "string", "writeOnly": true, "position": 2}, "botname": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "description": "Identify the name of the bot that should issue the message. If one isn''t specified then the default is to just use your account (associated with the incoming-webhook).", "title": "Bot name", "position": 3}, "tts": {"default": false, "description": "Whether to enable Text-To-Speech.", "title": "Tts", "type": "boolean", "position": 4}, "include_image": {"default": false, "description": "Whether to include an image in-line with the message describing the notification type.", "title": "Include Image", "type": "boolean", "position": 5}, "avatar": {"default": false, "description": "Whether to override the default discord avatar icon.", "title": "Avatar", "type": "boolean", "position": 6}, "avatar_url": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "description": "Over-ride the default discord avatar icon URL. By default this is not set and Apprise chooses the URL dynamically based on the type of message (info, success, warning, or error).", "title": "Avatar URL", "position": 7}}, "required": ["webhook_id", "webhook_token"], "secret_fields": ["webhook_id", "webhook_token"], "title": "DiscordWebhook", "type": "object"}','04ef50fe-53f9-4a6e-aea7-5978a94c3a23','sha256:b3ea94c0ce1573b22c0e7bf2457f5f52a210327e0f7be05c74970a246304b1e2','["notify"]','3.9.1');
INSERT INTO "block_schema" VALUES('1269ddb8-fb4e-4aa8-9422-f10fb1c5db5d','2026-12-01 03:20:17.591749','2026-12-01 03:20:17.591829','{"block_type_slug": "custom-webhook", "description": "Enables sending notifications via any custom webhook.\n\nAll nested string param contains `{{key}}` will be substituted with value from context/secrets.\n\nContext values include: `subject`, `body` and `name`.", "properties": {"name": {"description": "Name of the webhook.", "title": "Name", "type": "string", "position": 0}, "url": {"description": "The webhook URL.", "examples": ["https://hooks.slack.com/XXX"], "title": "Webhook URL", "type": "string", "position": 1}, "method": {"default": "POST", "description": "The webhook request method. Defaults to `POST`.", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"], "title": "Method", "type": "string", "position": 2}, "params": {"anyOf": [{"additionalProperties": {"type": "string"}, "type": "object"}, {"type": "null"}], "default": null, "description": "Custom query params.", "title": "Query Params", "position": 3}, "json_data": {"anyOf": [{"additionalProperties": true, "type": "object"}, {"type": "null"}], "default": null, "description": "Send json data as payload.", "examples": ["{\"text\": \"{{subject}}\\n{{body}}\", \"title\": \"{{name}}\", \"token\": \"{{tokenFromSecrets}}\"}"], "title": "JSON Data", "position": 4}, "form_data": {"anyOf": [{"additionalProperties": {"type": "string"}, "type": "object"}, {"type": "string"}, {"type": "null"}], "default": null, "description": "Send form data as payload. Should not be used together with _JSON Data_. Can be a dictionary for form-encoded data or a string for raw body content.", "examples": ["{\"text\": \"{{subject}}\\n{{body}}\", \"title\": \"{{name}}\", \"token\": \"{{tokenFromSecrets}}\"}"], "title": "Form Data", "position": 5}, "headers": {"anyOf": [{"additionalProperties": {"type": "string"}, "type": "object"}, {"type": "null"}], "default": null, "description": "Custom headers.", "title": "Headers", "position": 6}, "cookies": {"anyOf": [{"additionalProperties": {"type": "string"}, "type": "object"}, {"type": "null"}], "default": null, "description": "Custom cookies.", "title": "Cookies", "position": 7}, "timeout": {"default": 10, "description": "Request timeout in seconds. Defaults to 10.", "title": "Timeout", "type": "number", "position": 8}, "allow_private_urls": {"default": true, "description": "Whether to allow notifications to private URLs. Defaults to True.", "title": "Allow Private Urls", "type": "boolean", "position": 9}, "secrets": {"description": "A dictionary of secret values to be substituted in other configs.", "examples": ["{\"tokenFromSecrets\":\"SomeSecretToken\"}"], "title": "Custom Secret Values", "type": "object", "position": 10}}, "required": ["name", "url"], "secret_fields": ["secrets.*"], "title": "CustomWebhookNotificationBlock", "type": "object"}','ab19ae8e-25d5-41af-8dad-45991821eeda','sha256:69076241f2b9959ae97554957a22ec428886b46f6ed4732af160e117d487c0cf','["notify"]','3.9.1');
INSERT INTO "block_schema" VALUES('0c145378-a8bf-47f0-8b90-dc2dcbed262c','2026-12-01 03:20:17.618450','2026-12-01 03:20:17.618555','{"block_type_slug": "sendgrid-email", "description": "Enables sending notifications via Sendgrid email service.", "properties": {"notify_type": {"default": "info", "description": "The type of notification being performed.", "enum": ["info", "success", "warning", "failure"], "title": "Notify Type", "type": "string", "position": 0}, "api_key": {"description": "The API Key associated with your sendgrid account.", "format": "password", "title": "API Key", "type": "string", "writeOnly": true, "position": 1}, "sender_email": {"description": "The sender email id.", "examples": ["test-support@gmail.com"], "title": "Sender email id", "type": "string", "position": 2}, "to_emails": {"description": "Email ids of all recipients.", "examples": ["[\"recipient1@gmail.com\", \"recipient2@gmail.com\"]"], "items": {"type": "string"}, "title": "Recipient emails", "type": "array", "position": 3}}, "required": ["api_key", "sender_email", "to_emails"], "secret_fields": ["api_key"], "title": "SendgridEmail", "type": "object"}','660940f9-d1a8-4ddc-bed0-678927f24217','sha256:b67583d3b7ce215cd84a58ba42bb8936294cc1417ff3fe54d0fb08447932c6f2','["notify"]','3.9.1');
INSERT INTO "block_schema" VALUES('67cac651-05ca-4fdd-86f0-a5cb0f32fda6','2026-12-01 03:20:17.720096','2026-12-01 03:20:17.720174','{"block_type_slug": "remote-file-system", "description": "Store data as a file on a remote file system.\n\nSupports any remote file system supported by `fsspec`. The file system is specified\nusing a protocol. For example, \"s3://my-bucket/my-folder/\" will use S3.", "properties": {"basepath": {"description": "Default path for this block to write to.", "examples": ["s3://my-bucket/my-folder/"], "title": "Basepath", "type": "string", "position": 0}, "settings": {"description": "Additional settings to pass through to fsspec.", "title": "Settings", "type": "object", "position": 1}}, "required": ["basepath"], "secret_fields": [], "title": "RemoteFileSystem", "type": "object"}','b5e514c2-3be2-4af8-ba10-82ed1d28edc6','sha256:3bca63009aa57af6c7053fc17a2a336a1e1801bbb19ca2c5939b59afe435c531','["write-path", "read-path", "get-directory", "put-directory"]','3.9.1');
INSERT INTO "block_schema" VALUES('3ec038fd-1b90-4d68-b393-240fa00a96be','2026-12-01 03:20:17.751850','2026-12-01 03:20:17.751922','{"block_type_slug": "smb", "description": "Store data as a file on a SMB share.", "properties": {"share_path": {"description": "SMB target (requires <SHARE>, followed by <PATH>).", "examples": ["/SHARE/dir/subdir"], "title": "Share Path", "type": "string", "position": 0}, "smb_username": {"anyOf": [{"format": "password", "type": "string", "writeOnly": true}, {"type": "null"}], "default": null, "description": "Username with access to the target SMB SHARE.", "title": "SMB Username", "position": 1}, "smb_password": {"anyOf": [{"format": "password", "type": "string", "writeOnly": true}, {"type": "null"}], "default": null, "description": "Password for SMB access.", "title": "SMB Password", "position": 2}, "smb_host": {"description": "SMB server/hostname.", "title": "SMB server/hostname", "type": "string", "position": 3}, "smb_port": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": null, "description": "SMB port (default: 445).", "title": "SMB port", "position": 4}}, "required": ["share_path", "smb_host"], "secret_fields": ["smb_username", "smb_password"], "title": "SMB", "type": "object"}','b00181a1-959a-4d9d-857c-f1c5326920ee','sha256:849cd014b777a64ee219f6b8b13c15b37c34ea4138d9224c4d45bf00ba2e4681','["write-path", "read-path", "get-directory", "put-directory"]','3.9.1');
INSERT INTO "block_schema" VALUES('bc4a3f7d-0017-48e6-bc4e-66659b862c0c','2026-12-01 03:20:17.790607','2026-12-01 03:20:17.790694','{"block_type_slug": "redis-database", "description": "Block used to manage authentication with a Redis database", "properties": {"host": {"default": "localhost", "description": "Redis hostname", "title": "Host", "type": "string", "position": 0}, "port": {"default": 6379, "description": "Redis port", "title": "Port", "type": "integer", "position": 1}, "db": {"default": 0, "description": "Redis DB index", "title": "Db", "type": "integer", "position": 2}, "username": {"anyOf": [{"format": "password", "type": "string", "writeOnly": true}, {"type": "null"}], "default": null, "description": "Redis username", "title": "Username", "position": 3}, "password": {"anyOf": [{"format": "password", "type": "string", "writeOnly": true}, {"type": "null"}], "default": null, "description": "Redis password", "title": "Password", "position": 4}, "ssl": {"default": false, "description": "Whether to use SSL", "title": "Ssl", "type": "boolean", "position": 5}, "key_ttl": {"anyOf": [{"exclusiveMinimum": 0, "type": "integer"}, {"type": "null"}], "default": null, "description": "Optional per-key time-to-live in seconds, applied to every written key (Redis `SET ... EX`). Must be positive; when `None` (the default) keys never expire. Useful when using the block as `result_storage`/cache on a Redis with a `maxmemory` + `volatile-lru` eviction policy.", "title": "Key Ttl", "position": 6}, "connection_url": {"anyOf": [{"format": "password", "type": "string", "writeOnly": true}, {"type": "null"}], "default": null, "description": "Full Redis connection URL, authoritative over the scalar connection fields when set. Supports the redis://, rediss://, redis+sentinel:// and rediss+sentinel:// schemes; the Sentinel schemes resolve the current master through the listed Sentinel daemons and follow failover automatically, e.g. redis+sentinel://sentinel-a:26379,sentinel-b:26379/mymaster.", "title": "Connection Url", "position": 7}}, "secret_fields": ["username", "password", "connection_url"], "title": "RedisDatabase", "type": "object"}','d3590612-2b60-46dc-943a-d4dfec7b7658','sha256:510d4c0c1785313e85afc04caa2259402cd639742649eb0a830f7bfc53d45df8','["write-path", "read-path"]','0.3.0');
INSERT INTO "block_schema" VALUES('03688b1c-05a5-4881-8200-87642bace375','2026-12-01 03:20:18.083504','2026-12-01 03:20:18.083580','{"title": "AwsCredentials", "description": "Block used to manage authentication with AWS. AWS authentication is\nhandled via the `boto3` module. Refer to the\n[boto3 docs](https://boto3.amazonaws.com/v1/documentation/api/latest/guide/credentials.html)\nfor more info about the possible credential configurations.", "type": "object", "properties": {"aws_access_key_id": {"title": "AWS Access Key ID", "description": "A specific AWS access key ID.", "type": "string"}, "aws_secret_access_key": {"title": "AWS Access Key Secret", "description": "A specific AWS secret access key.", "type": "string", "writeOnly": true, "format": "password"}, "aws_session_token": {"title": "AWS Session Token", "description": "The session key for your AWS account. This is only needed when you are using temporary credentials.", "type": "string"}, "profile_name": {"title": "Profile Name", "description": "The profile to use when creating your session.", "type": "string"}, "region_name": {"title": "Region Name", "description": "The AWS Region where you want to create new connections.", "type": "string"}, "aws_client_parameters": {"title": "AWS Client Parameters", "description": "Extra parameters to initialize the Client.", "allOf": [{"$ref": "#/definitions/AwsClientParameters"}]}}, "block_type_slug": "aws-credentials", "secret_fields": ["aws_secret_access_key"], "definitions": {"AwsClientParameters": {"title": "AwsClientParameters", "description": "Model used to manage extra parameters that you can pass when you initialize\nthe Client. If you want to find more information, see\n[boto3 docs](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/core/session.html)\nfor more info about the possible client configurations.\n\nAttributes:\n    api_version: The API version to use. By default, botocore will\n        use the latest API version when creating a client. You only need\n        to specify this parameter if you want to use a previous API version\n        of the client.\n    use_ssl: Whether or not to use SSL. By default, SSL is used.\n        Note that not all services support non-ssl connections.\n    verify: Whether or not to verify SSL certificates. By default\n        SSL certificates are verified. If False, SSL will still be used\n        (unless use_ssl is False), but SSL certificates\n        will not be verified. Passing a file path to this is deprecated.\n    verify_cert_path: A filename of the CA cert bundle to\n        use. You can specify this argument if you want to use a\n        different CA cert bundle than the one used by botocore.\n    endpoint_url: The complete URL to use for the constructed\n        client. Normally, botocore will automatically construct the\n        appropriate URL to use when communicating with a service. You\n        can specify a complete URL (including the \"http/https\" scheme)\n        to override this behavior. If this value is provided,\n        then ``use_ssl`` is ignored.\n    config: Advanced configuration for Botocore clients. See\n        [botocore docs](https://botocore.amazonaws.com/v1/documentation/api/latest/reference/config.html)\n        for more details.", "type": "object", "properties": {"api_version": {"title": "API Version", "description": "The API version to use.", "type": "string"}, "use_ssl": {"title": "Use SSL", "description": "Whether or not to use SSL.", "default": true, "type": "boolean"}, "verify": {"title": "Verify", "description": "Whether or not to verify SSL certificates.", "default": true, "anyOf": [{"type": "boolean"}, {"type": "string", "format": "file-path"}]}, "verify_cert_path": {"title": "Certificate Authority Bundle File Path", "description": "Path to the CA cert bundle to use.", "format": "file-path", "type": "string"}, "endpoint_url": {"title": "Endpoint URL", "description": "The complete URL to use for the constructed client.", "type": "string"}, "config": {"title": "Botocore Config", "description": "Advanced configuration for Botocore clients.", "type": "object"}}}}}','2d408cb9-ab6a-4488-880a-8892c74c56cb','sha256:17b73297ed60f080fb235b3a5a145a6d9b28a09b3ff2d9d17810b5e2c2075ebe','[]','0.4.14');
INSERT INTO "block_schema" VALUES('2ffb47af-9538-49d2-924b-bc623bdbfc8e','2026-12-01 03:20:18.099175','2026-12-01 03:20:18.099250','{"title": "AwsSecret", "description": "Manages a secret in AWS''s Secrets Manager.", "type": "object", "properties": {"aws_credentials": {"$ref": "#/definitions/AwsCredentials"}, "secret_name": {"title": "Secret Name", "description": "The name of the secret.", "type": "string"}}, "required": ["aws_credentials", "secret_name"], "block_type_slug": "aws-secret", "secret_fields": ["aws_credentials.aws_secret_access_key"], "definitions": {"AwsClientParameters": {"title": "AwsClientParameters", "description": "Model used to manage extra parameters that you can pass when you initialize\nthe Client. If you want to find more information, see\n[boto3 docs](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/core/session.html)\nfor more info about the possible client configurations.\n\nAttributes:\n    api_version: The API version to use. By default, botocore will\n        use the latest API version when creating a client. You only need\n        to specify this parameter if you want to use a previous API version\n        of the client.\n    use_ssl: Whether or not to use SSL. By default, SSL is used.\n        Note that not all services support non-ssl connections.\n    verify: Whether or not to verify SSL certificates. By default\n        SSL certificates are verified. If False, SSL will still be used\n        (unless use_ssl is False), but SSL certificates\n        will not be verified. Passing a file path to this is deprecated.\n    verify_cert_path: A filename of the CA cert bundle to\n        use. You can specify this argument if you want to use a\n        different CA cert bundle than the one used by botocore.\n    endpoint_url: The complete URL to use for the constructed\n        client. Normally, botocore will automatically construct the\n        appropriate URL to use when communicating with a service. You\n        can specify a complete URL (including the \"http/https\" scheme)\n        to override this behavior. If this value is provided,\n        then ``use_ssl`` is ignored.\n    config: Advanced configuration for Botocore clients. See\n        [botocore docs](https://botocore.amazonaws.com/v1/documentation/api/latest/reference/config.html)\n        for more details.", "type": "object", "properties": {"api_version": {"title": "API Version", "description": "The API version to use.", "type": "string"}, "use_ssl": {"title": "Use SSL", "description": "Whether or not to use SSL.", "default": true, "type": "boolean"}, "verify": {"title": "Verify", "description": "Whether or not to verify SSL certificates.", "default": true, "anyOf": [{"type": "boolean"}, {"type": "string", "format": "file-path"}]}, "verify_cert_path": {"title": "Certificate Authority Bundle File Path", "description": "Path to the CA cert bundle to use.", "format": "file-path", "type": "string"}, "endpoint_url": {"title": "Endpoint URL", "description": "The complete URL to use for the constructed client.", "type": "string"}, "config": {"title": "Botocore Config", "description": "Advanced configuration for Botocore clients.", "type": "object"}}}}}','ee68a6f5-b93f-457b-8b22-715fac547ab1','sha256:d10fde5ac25b10edca4859c4d0bf61b4a9106215cd79ab80997f29859b190b7d','[]','0.4.14');
INSERT INTO "block_schema" VALUES('8961df7b-3256-4a48-a1d2-54389abf5c0b','2026-12-01 03:20:18.141893','2026-12-01 03:20:18.141970','{"title": "LambdaFunction", "description": "Invoke a Lambda function. This block is part of the prefect-aws\ncollection. Install prefect-aws with `pip install prefect-aws` to use this\nblock.", "type": "object", "properties": {"function_name": {"title": "Function Name", "description": "The name, ARN, or partial ARN of the Lambda function to run. This must be the name of a function that is already deployed to AWS Lambda.", "type": "string"}, "qualifier": {"title": "Qualifier", "description": "The version or alias of the Lambda function to use when invoked. If not specified, the latest (unqualified) version of the Lambda function will be used.", "type": "string"}, "aws_credentials": {"title": "AWS Credentials", "description": "The AWS credentials to invoke the Lambda with.", "allOf": [{"$ref": "#/definitions/AwsCredentials"}]}}, "required": ["function_name"], "block_type_slug": "lambda-function", "secret_fields": ["aws_credentials.aws_secret_access_key"], "definitions": {"AwsClientParameters": {"title": "AwsClientParameters", "description": "Model used to manage extra parameters that you can pass when you initialize\nthe Client. If you want to find more information, see\n[boto3 docs](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/core/session.html)\nfor more info about the possible client configurations.\n\nAttributes:\n    api_version: The API version to use. By default, botocore will\n        use the latest API version when creating a client. You only need\n        to specify this parameter if you want to use a previous API version\n        of the client.\n    use_ssl: Whether or not to use SSL. By default, SSL is used.\n        Note that not all services support non-ssl connections.\n    verify: Whether or not to verify SSL certificates. By default\n        SSL certificates are verified. If False, SSL will still be used\n        (unless use_ssl is False), but SSL certificates\n        will not be verified. Passing a file path to this is deprecated.\n    verify_cert_path: A filename of the CA cert bundle to\n        use. You can specify this argument if you want to use a\n        different CA cert bundle than the one used by botocore.\n    endpoint_url: The complete URL to use for the constructed\n        client. Normally, botocore will automatically construct the\n        appropriate URL to use when communicating with a service. You\n        can specify a complete URL (including the \"http/https\" scheme)\n        to override this behavior. If this value is provided,\n        then ``use_ssl`` is ignored.\n    config: Advanced configuration for Botocore clients. See\n        [botocore docs](https://botocore.amazonaws.com/v1/documentation/api/latest/reference/config.html)\n        for more details.", "type": "object", "properties": {"api_version": {"title": "API Version", "description": "The API version to use.", "type": "string"}, "use_ssl": {"title": "Use SSL", "description": "Whether or not to use SSL.", "default": true, "type": "boolean"}, "verify": {"title": "Verify", "description": "Whether or not to verify SSL certificates.", "default": true, "anyOf": [{"type": "boolean"}, {"type": "string", "format": "file-path"}]}, "verify_cert_path": {"title": "Certificate Authority Bundle File Path", "description": "Path to the CA cert bundle to use.", "format": "file-path", "type": "string"}, "endpoint_url": {"title": "Endpoint URL", "description": "The complete URL to use for the constructed client.", "type": "string"}, "config": {"title": "Botocore Config", "description": "Advanced configuration for Botocore clients.", "type": "object"}}}}}','819c76e3-3411-456d-b314-5c3224c7f753','sha256:93fb424309b85c0ef9a8e69cc9d0df1e0afa0f2ed15f1ecc710ec3463513b2e4','[]','0.4.14');
INSERT INTO "block_schema" VALUES('e275dccf-aeff-4acb-abd7-031fc8c1214a','2026-12-01 03:20:18.174918','2026-12-01 03:20:18.174982','{"title": "MinIOCredentials", "description": "Block used to manage authentication with MinIO. Refer to the MinIO docs: https://docs.min.io/docs/minio-server-configuration-guide.html for more info about the possible credential configurations.", "type": "object", "properties": {"minio_root_user": {"title": "Minio Root User", "description": "Admin or root user.", "type": "string"}, "minio_root_password": {"title": "Minio Root Password", "description": "Admin or root password.", "type": "string", "writeOnly": true, "format": "password"}, "region_name": {"title": "Region Name", "description": "The AWS Region where you want to create new connections.", "type": "string"}, "aws_client_parameters": {"title": "Aws Client Parameters", "description": "Extra parameters to initialize the Client.", "allOf": [{"$ref": "#/definitions/AwsClientParameters"}]}}, "required": ["minio_root_user", "minio_root_password"], "block_type_slug": "minio-credentials", "secret_fields": ["minio_root_password"], "definitions": {"AwsClientParameters": {"title": "AwsClientParameters", "description": "Model used to manage extra parameters that you can pass when you initialize\nthe Client. If you want to find more information, see\n[boto3 docs](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/core/session.html)\nfor more info about the possible client configurations.\n\nAttributes:\n    api_version: The API version to use. By default, botocore will\n        use the latest API version when creating a client. You only need\n        to specify this parameter if you want to use a previous API version\n        of the client.\n    use_ssl: Whether or not to use SSL. By default, SSL is used.\n        Note that not all services support non-ssl connections.\n    verify: Whether or not to verify SSL certificates. By default\n        SSL certificates are verified. If False, SSL will still be used\n        (unless use_ssl is False), but SSL certificates\n        will not be verified. Passing a file path to this is deprecated.\n    verify_cert_path: A filename of the CA cert bundle to\n        use. You can specify this argument if you want to use a\n        different CA cert bundle than the one used by botocore.\n    endpoint_url: The complete URL to use for the constructed\n        client. Normally, botocore will automatically construct the\n        appropriate URL to use when communicating with a service. You\n        can specify a complete URL (including the \"http/https\" scheme)\n        to override this behavior. If this value is provided,\n        then ``use_ssl`` is ignored.\n    config: Advanced configuration for Botocore clients. See\n        [botocore docs](https://botocore.amazonaws.com/v1/documentation/api/latest/reference/config.html)\n        for more details.", "type": "object", "properties": {"api_version": {"title": "API Version", "description": "The API version to use.", "type": "string"}, "use_ssl": {"title": "Use SSL", "description": "Whether or not to use SSL.", "default": true, "type": "boolean"}, "verify": {"title": "Verify", "description": "Whether or not to verify SSL certificates.", "default": true, "anyOf": [{"type": "boolean"}, {"type": "string", "format": "file-path"}]}, "verify_cert_path": {"title": "Certificate Authority Bundle File Path", "description": "Path to the CA cert bundle to use.", "format": "file-path", "type": "string"}, "endpoint_url": {"title": "Endpoint URL", "description": "The complete URL to use for the constructed client.", "type": "string"}, "config": {"title": "Botocore Config", "description": "Advanced configuration for Botocore clients.", "type": "object"}}}}}','f0190ce4-9082-4593-8a81-cfe3bf74ff57','sha256:5b4f1e5270f3a3670ff3d06b7e6e8246d54dacba976321dec42abe51c33415fb','[]','0.4.14');
INSERT INTO "block_schema" VALUES('cd2c72ea-0103-45e2-8c17-2891c7c8481c','2026-12-01 03:20:18.193896','2026-12-01 03:20:18.193984','{"title": "S3Bucket", "description": "Block used to store data using AWS S3 or S3-compatible object storage like MinIO.", "type": "object", "properties": {"bucket_name": {"title": "Bucket Name", "description": "Name of your bucket.", "type": "string"}, "credentials": {"title": "Credentials", "description": "A block containing your credentials to AWS or MinIO.", "anyOf": [{"$ref": "#/definitions/MinIOCredentials"}, {"$ref": "#/definitions/AwsCredentials"}]}, "bucket_folder": {"title": "Bucket Folder", "description": "A default path to a folder within the S3 bucket to use for reading and writing objects.", "default": "", "type": "string"}}, "required": ["bucket_name"], "block_type_slug": "s3-bucket", "secret_fields": ["credentials.minio_root_password", "credentials.aws_secret_access_key"], "definitions": {"AwsClientParameters": {"title": "AwsClientParameters", "description": "Model used to manage extra parameters that you can pass when you initialize\nthe Client. If you want to find more information, see\n[boto3 docs](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/core/session.html)\nfor more info about the possible client configurations.\n\nAttributes:\n    api_version: The API version to use. By default, botocore will\n        use the latest API version when creating a client. You only need\n        to specify this parameter if you want to use a previous API version\n        of the client.\n    use_ssl: Whether or not to use SSL. By default, SSL is used.\n        Note that not all services support non-ssl connections.\n    verify: Whether or not to verify SSL certificates. By default\n        SSL certificates are verified. If False, SSL will still be used\n        (unless use_ssl is False), but SSL certificates\n        will not be verified. Passing a file path to this is deprecated.\n    verify_cert_path: A filename of the CA cert bundle to\n        use. You can specify this argument if you want to use a\n        different CA cert bundle than the one used by botocore.\n    endpoint_url: The complete URL to use for the constructed\n        client. Normally, botocore will automatically construct the\n        appropriate URL to use when communicating with a service. You\n        can specify a complete URL (including the \"http/https\" scheme)\n        to override this behavior. If this value is provided,\n        then ``use_ssl`` is ignored.\n    config: Advanced configuration for Botocore clients. See\n        [botocore docs](https://botocore.amazonaws.com/v1/documentation/api/latest/reference/config.html)\n        for more details.", "type": "object", "properties": {"api_version": {"title": "API Version", "description": "The API version to use.", "type": "string"}, "use_ssl": {"title": "Use SSL", "description": "Whether or not to use SSL.", "default": true, "type": "boolean"}, "verify": {"title": "Verify", "description": "Whether or not to verify SSL certificates.", "default": true, "anyOf": [{"type": "boolean"}, {"type": "string", "format": "file-path"}]}, "verify_cert_path": {"title": "Certificate Authority Bundle File Path", "description": "Path to the CA cert bundle to use.", "format": "file-path", "type": "string"}, "endpoint_url": {"title": "Endpoint URL", "description": "The complete URL to use for the constructed client.", "type": "string"}, "config": {"title": "Botocore Config", "description": "Advanced configuration for Botocore clients.", "type": "object"}}}}}','89df37b4-e651-4ec2-8ea9-2f27fdde2340','sha256:da1e638612365b12ec83b6102986cc5efe54e84b7144bd668629f6972afe748f','["get-directory", "put-directory", "read-path", "write-path"]','0.4.14');
INSERT INTO "block_schema" VALUES('70f32e8e-1e55-4cd6-b905-c8b3e651d984','2026-12-01 03:20:18.238960','2026-12-01 03:20:18.239026','{"title": "AzureBlobStorageContainer", "description": "Represents a container in Azure Blob Storage.\n\nThis class provides methods for downloading and uploading files and folders\nto and from the Azure Blob Storage container.", "type": "object", "properties": {"container_name": {"title": "Container Name", "description": "The name of a Azure Blob Storage container.", "type": "string"}, "credentials": {"title": "Credentials", "description": "The credentials to use for authentication with Azure.", "allOf": [{"$ref": "#/definitions/AzureBlobStorageCredentials"}]}, "base_folder": {"title": "Base Folder", "description": "A base path to a folder within the container to use for reading and writing objects.", "type": "string"}}, "required": ["container_name"], "block_type_slug": "azure-blob-storage-container", "secret_fields": ["credentials.connection_string"]}','491f603c-0a30-4224-a106-e9a4f96e37f9','sha256:dcb604fba31292177868c0998110c7b4c0ba0b5601ee39679b2936adfd836f19','["get-directory", "put-directory", "read-path", "write-path"]','0.3.7');
INSERT INTO "block_schema" VALUES('82a0613b-0cb9-499a-92bd-0e3dc750c3f3','2026-12-01 03:20:18.256841','2026-12-01 03:20:18.256909','{"title": "AzureBlobStorageCredentials", "description": "Stores credentials for authenticating with Azure Blob Storage.", "type": "object", "properties": {"connection_string": {"title": "Connection String", "description": "The connection string to your Azure storage account. If provided, the connection string will take precedence over the account URL.", "type": "string", "writeOnly": true, "format": "password"}, "account_url": {"title": "Account URL", "description": "The URL for your Azure storage account. If provided, the account URL will be used to authenticate with the discovered default Azure credentials.", "type": "string"}}, "block_type_slug": "azure-blob-storage-credentials", "secret_fields": ["connection_string"]}','2252ba9d-9cbd-4bb2-80aa-f75b26e19c87','sha256:73e835b6cb9a1902fd869037fb7f8a90f974508dda7a168e748a1206e7c325eb','[]','non-versioned');
INSERT INTO "block_schema" VALUES('d41470f1-03c3-4416-9f10-963cbab1130f','2026-12-01 03:20:18.279170','2026-12-01 03:20:18.279240','{"title": "AzureBlobStorageCredentials", "description": "Stores credentials for authenticating with Azure Blob Storage.", "type": "object", "properties": {"connection_string": {"title": "Connection String", "description": "The connection string to your Azure storage account. If provided, the connection string will take precedence over the account URL.", "type": "string", "writeOnly": true, "format": "password"}, "account_url": {"title": "Account URL", "description": "The URL for your Azure storage account. If provided, the account URL will be used to authenticate with the discovered default Azure credentials.", "type": "string"}}, "block_type_slug": "azure-blob-storage-credentials", "secret_fields": ["connection_string"]}','2252ba9d-9cbd-4bb2-80aa-f75b26e19c87','sha256:73e835b6cb9a1902fd869037fb7f8a90f974508dda7a168e748a1206e7c325eb','[]','0.3.7');
INSERT INTO "block_schema" VALUES('f85830cf-f101-4695-9c91-5771646e716e','2026-12-01 03:20:18.295525','2026-12-01 03:20:18.295576','{"title": "AzureContainerInstanceCredentials", "description": "Block used to manage Azure Container Instances authentication. Stores Azure Service\nPrincipal authentication data.", "type": "object", "properties": {"client_id": {"title": "Client ID", "description": "The service principal client ID. If none of client_id, tenant_id, and client_secret are provided, will use DefaultAzureCredential; else will need to provide all three to use ClientSecretCredential.", "type": "string"}, "tenant_id": {"title": "Tenant ID", "description": "The service principal tenant ID.If none of client_id, tenant_id, and client_secret are provided, will use DefaultAzureCredential; else will need to provide all three to use ClientSecretCredential.", "type": "string"}, "client_secret": {"title": "Client Secret", "description": "The service principal client secret.If none of client_id, tenant_id, and client_secret are provided, will use DefaultAzureCredential; else will need to provide all three to use ClientSecretCredential.", "type": "string", "writeOnly": true, "format": "password"}, "credential_kwargs": {"title": "Additional Credential Keyword Arguments", "description": "Additional keyword arguments to pass to `ClientSecretCredential` or `DefaultAzureCredential`.", "type": "object"}}, "block_type_slug": "azure-container-instance-credentials", "secret_fields": ["client_secret"]}','4ef54a73-f25c-4522-aea2-efe13074200d','sha256:17a9122f9f345a4547128cc05f7ff7146da9a72c4bac2850004fcc6c8d9be2d1','[]','0.3.7');
INSERT INTO "block_schema" VALUES('51763ca9-4646-4d8a-b4a7-5055fe2cb3d1','2026-12-01 03:20:18.319103','2026-12-01 03:20:18.319177','{"title": "AzureCosmosDbCredentials", "description": "Block used to manage Cosmos DB authentication with Azure.\nAzure authentication is handled via the `azure` module through\na connection string.", "type": "object", "properties": {"connection_string": {"title": "Connection String", "description": "Includes the authorization information required.", "type": "string", "writeOnly": true, "format": "password"}}, "required": ["connection_string"], "block_type_slug": "azure-cosmos-db-credentials", "secret_fields": ["connection_string"]}','0ac6f192-a316-4558-a40f-a92aa333f917','sha256:2f9f6e6f6c2eb570a05113638e6237fe74f7684993a351018657211d4705a83a','[]','0.3.7');
INSERT INTO "block_schema" VALUES('ab437458-9686-407f-8f07-47a343498356','2026-12-01 03:20:18.338151','2026-12-01 03:20:18.338244','{"title": "AzureMlCredentials", "description": "Block used to manage authentication with AzureML. Azure authentication is\nhandled via the `azure` module.", "type": "object", "properties": {"tenant_id": {"title": "Tenant Id", "description": "The active directory tenant that the service identity belongs to.", "type": "string"}, "service_principal_id": {"title": "Service Principal Id", "description": "The service principal ID.", "type": "string"}, "service_principal_password": {"title": "Service Principal Password", "description": "The service principal password/key.", "type": "string", "writeOnly": true, "format": "password"}, "subscription_id": {"title": "Subscription Id", "description": "The Azure subscription ID containing the workspace, in format: ''00000000-0000-0000-0000-000000000000''.", "type": "string"}, "resource_group": {"title": "Resource Group", "description": "The resource group containing the workspace.", "type": "string"}, "workspace_name": {"title": "Workspace Name", "description": "The existing workspace name.", "type": "string"}}, "required": ["tenant_id", "service_principal_id", "service_principal_password", "subscription_id", "resource_group", "workspace_name"], "block_type_slug": "azureml-credentials", "secret_fields": ["service_principal_password"]}','cff8d1ea-0a3b-40a3-84f8-66869ba9036f','sha256:11338ccb5cd90992ac378f9b7a73cbf1942fae58343ac2026b3718ed688b52e6','[]','0.3.7');
INSERT INTO "block_schema" VALUES('b75048da-845c-4a27-8e4b-5561ba5e12a7','2026-12-01 03:20:18.357026','2026-12-01 03:20:18.357100','{"title": "BitBucketCredentials", "description": "Store BitBucket credentials to interact with private BitBucket repositories.", "type": "object", "properties": {"token": {"title": "Token", "description": "A BitBucket Personal Access Token - required for private repositories.", "name": "Personal Access Token", "example": "x-token-auth:my-token", "type": "string", "writeOnly": true, "format": "password"}, "username": {"title": "Username", "description": "Identification name unique across entire BitBucket site.", "type": "string"}, "password": {"title": "Password", "description": "The password to authenticate to BitBucket.", "type": "string", "writeOnly": true, "format": "password"}, "url": {"title": "URL", "description": "The base URL of your BitBucket instance.", "default": "https://api.bitbucket.org/", "type": "string"}}, "block_type_slug": "bitbucket-credentials", "secret_fields": ["token", "password"]}','4968b7a4-b500-4e0d-8296-73d972f06ba6','sha256:ef96bdc56cde651f152e3f8938018d53d725b25b5ae98777872c0962250ba0fc','[]','0.2.2');
INSERT INTO "block_schema" VALUES('ee448d90-8827-4f82-b988-25f6f70fec6c','2026-12-01 03:20:18.375199','2026-12-01 03:20:18.375275','{"title": "BitBucketRepository", "description": "Interact with files stored in BitBucket repositories.", "type": "object", "properties": {"repository": {"title": "Repository", "description": "The URL of a BitBucket repository to read from in HTTPS format", "type": "string"}, "reference": {"title": "Reference", "description": "An optional reference to pin to; can be a branch or tag.", "type": "string"}, "bitbucket_credentials": {"title": "Bitbucket Credentials", "description": "An optional BitBucketCredentials block for authenticating with private BitBucket repos.", "allOf": [{"$ref": "#/definitions/BitBucketCredentials"}]}}, "required": ["repository"], "block_type_slug": "bitbucket-repository", "secret_fields": ["bitbucket_credentials.token", "bitbucket_credentials.password"]}','12c6015c-be51-4e98-a91b-cb626c213aa7','sha256:b159a8f21358b694f13fb67b73f20bf3f8b74138940fc0f16ab08107e78d5237','["get-directory"]','0.2.2');
INSERT INTO "block_schema" VALUES('c1d62bc8-5c80-422e-a6e4-34c594e4e3b9','2026-12-01 03:20:18.406763','2026-12-01 03:20:18.406835','{"title": "DatabricksCredentials", "description": "Block used to manage Databricks authentication.", "type": "object", "properties": {"databricks_instance": {"title": "Databricks Instance", "description": "Databricks instance used in formatting the endpoint URL.", "type": "string"}, "token": {"title": "Token", "description": "The token to authenticate with Databricks.", "type": "string", "writeOnly": true, "format": "password"}, "client_kwargs": {"title": "Client Kwargs", "description": "Additional keyword arguments to pass to AsyncClient.", "type": "object"}}, "required": ["databricks_instance", "token"], "block_type_slug": "databricks-credentials", "secret_fields": ["token"]}','d1070b21-ec0a-4911-be81-aa5eafafcbcc','sha256:58bae1446ee7a01ec90d15cf756f8acc221329e3b3580b077b508ff0f2425e35','[]','0.2.3');
INSERT INTO "block_schema" VALUES('2e43987e-53a6-4915-be01-22fa094f3b20','2026-12-01 03:20:18.426222','2026-12-01 03:20:18.426294','{"title": "BigQueryTargetConfigs", "description": "dbt CLI target configs containing credentials and settings, specific to BigQuery.", "type": "object", "properties": {"extras": {"title": "Extras", "description": "Extra target configs'' keywords, not yet exposed in prefect-dbt, but available in dbt.", "type": "object"}, "allow_field_overrides": {"title": "Allow Field Overrides", "description": "If enabled, fields from dbt target configs will override fields provided in extras and credentials.", "default": false, "type": "boolean"}, "type": {"title": "Type", "description": "The type of target.", "default": "bigquery", "enum": ["bigquery"], "type": "string"}, "schema": {"title": "Schema", "description": "The schema that dbt will build objects into; in BigQuery, a schema is actually a dataset.", "type": "string"}, "threads": {"title": "Threads", "description": "The number of threads representing the max number of paths through the graph dbt may work on at once.", "default": 4, "type": "integer"}, "project": {"title": "Project", "description": "The project to use.", "type": "string"}, "credentials": {"title": "Credentials", "description": "The credentials to use to authenticate.", "allOf": [{"$ref": "#/definitions/GcpCredentials"}]}}, "required": ["schema"], "block_type_slug": "dbt-cli-bigquery-target-configs", "secret_fields": ["credentials.service_account_info.*"]}','f08d2f57-fb6b-4a2c-a291-641c38dde86b','sha256:842c5dc7d4d1557eedff36982eafeda7b0803915942f72224a7f627efdbe5ff5','[]','0.4.1');
INSERT INTO "block_schema" VALUES('db66273a-1c1c-4968-8df5-20f4ed7a0f70','2026-12-01 03:20:18.445886','2026-12-01 03:20:18.445966','{"title": "GcpCredentials", "description": "Block used to manage authentication with GCP. Google authentication is\nhandled via the `google.oauth2` module or through the CLI.\nSpecify either one of service `account_file` or `service_account_info`; if both\nare not specified, the client will try to detect the credentials following Google''s\n[Application Default Credentials](https://cloud.google.com/docs/authentication/application-default-credentials).\nSee Google''s [Authentication documentation](https://cloud.google.com/docs/authentication#service-accounts)\nfor details on inference and recommended authentication patterns.", "type": "object", "properties": {"service_account_file": {"title": "Service Account File", "description": "Path to the service account JSON keyfile.", "type": "string", "format": "path"}, "service_account_info": {"title": "Service Account Info", "description": "The contents of the keyfile as a dict.", "type": "object"}, "project": {"title": "Project", "description": "The GCP project to use for the client.", "type": "string"}}, "block_type_slug": "gcp-credentials", "secret_fields": ["service_account_info.*"]}','6138c214-2f18-4c04-8965-bb4f8a5608b5','sha256:f764f9c506a2bed9e5ed7cc9083d06d95f13c01c8c9a9e45bae5d9b4dc522624','[]','non-versioned');
INSERT INTO "block_schema" VALUES('cabdffa4-9b4e-4322-92eb-a087262ac3bc','2026-12-01 03:20:18.469136','2026-12-01 03:20:18.469200','{"title": "GlobalConfigs", "description": "Global configs control things like the visual output\nof logs, the manner in which dbt parses your project,\nand what to do when dbt finds a version mismatch\nor a failing model. Docs can be found [here](\nhttps://docs.getdbt.com/reference/global-configs).", "type": "object", "properties": {"extras": {"title": "Extras", "description": "Extra target configs'' keywords, not yet exposed in prefect-dbt, but available in dbt.", "type": "object"}, "allow_field_overrides": {"title": "Allow Field Overrides", "description": "If enabled, fields from dbt target configs will override fields provided in extras and credentials.", "default": false, "type": "boolean"}, "send_anonymous_usage_stats": {"title": "Send Anonymous Usage Stats", "description": "Whether usage stats are sent to dbt.", "type": "boolean"}, "use_colors": {"title": "Use Colors", "description": "Colorize the output it prints in your terminal.", "type": "boolean"}, "partial_parse": {"title": "Partial Parse", "description": "When partial parsing is enabled, dbt will use an stored internal manifest to determine which files have been changed (if any) since it last parsed the project.", "type": "boolean"}, "printer_width": {"title": "Printer Width", "description": "Length of characters before starting a new line.", "type": "integer"}, "write_json": {"title": "Write Json", "description": "Determines whether dbt writes JSON artifacts to the target/ directory.", "type": "boolean"}, "warn_error": {"title": "Warn Error", "description": "Whether to convert dbt warnings into errors.", "type": "boolean"}, "log_format": {"title": "Log Format", "description": "The LOG_FORMAT config specifies how dbt''s logs should be formatted. If the value of this config is json, dbt will output fully structured logs in JSON format.", "type": "string"}, "debug": {"title": "Debug", "description": "Whether to redirect dbt''s debug logs to standard out.", "type": "boolean"}, "version_check": {"title": "Version Check", "description": "Whether to raise an error if a project''s version is used with an incompatible dbt version.", "type": "boolean"}, "fail_fast": {"title": "Fail Fast", "description": "Make dbt exit immediately if a single resource fails to build.", "type": "boolean"}, "use_experimental_parser": {"title": "Use Experimental Parser", "description": "Opt into the latest experimental version of the static parser.", "type": "boolean"}, "static_parser": {"title": "Static Parser", "description": "Whether to use the [static parser](https://docs.getdbt.com/reference/parsing#static-parser).", "type": "boolean"}}, "block_type_slug": "dbt-cli-global-configs", "secret_fields": []}','3fe040bb-2dd4-4d70-9adb-841614033e66','sha256:63df9d18a1aafde1cc8330cd49f81f6600b4ce6db92955973bbf341cc86e916d','[]','0.4.1');
INSERT INTO "block_schema" VALUES('6f8d3e4e-0044-4331-8132-1ef09443c632','2026-12-01 03:20:18.489179','2026-12-01 03:20:18.489260','{"title": "PostgresTargetConfigs", "description": "dbt CLI target configs containing credentials and settings specific to Postgres.", "type": "object", "properties": {"extras": {"title": "Extras", "description": "Extra target configs'' keywords, not yet exposed in prefect-dbt, but available in dbt.", "type": "object"}, "allow_field_overrides": {"title": "Allow Field Overrides", "description": "If enabled, fields from dbt target configs will override fields provided in extras and credentials.", "default": false, "type": "boolean"}, "type": {"title": "Type", "description": "The type of the target.", "default": "postgres", "enum": ["postgres"], "type": "string"}, "schema": {"title": "Schema", "description": "The schema that dbt will build objects into; in BigQuery, a schema is actually a dataset.", "type": "string"}, "threads": {"title": "Threads", "description": "The number of threads representing the max number of paths through the graph dbt may work on at once.", "default": 4, "type": "integer"}, "credentials": {"title": "Credentials", "description": "The credentials to use to authenticate; if there are duplicate keys between credentials and TargetConfigs, e.g. schema, an error will be raised.", "anyOf": [{"$ref": "#/definitions/SqlAlchemyConnector"}, {"$ref": "#/definitions/DatabaseCredentials"}]}}, "required": ["schema", "credentials"], "block_type_slug": "dbt-cli-postgres-target-configs", "secret_fields": ["credentials.connection_info.password", "credentials.password"], "definitions": {"AsyncDriver": {"title": "AsyncDriver", "description": "Known dialects with their corresponding async drivers.\n\nAttributes:\n    POSTGRESQL_ASYNCPG (Enum): [postgresql+asyncpg](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.asyncpg)\n\n    SQLITE_AIOSQLITE (Enum): [sqlite+aiosqlite](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.aiosqlite)\n\n    MYSQL_ASYNCMY (Enum): [mysql+asyncmy](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.asyncmy)\n    MYSQL_AIOMYSQL (Enum): [mysql+aiomysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.aiomysql)", "enum": ["postgresql+asyncpg", "sqlite+aiosqlite", "mysql+asyncmy", "mysql+aiomysql"]}, "SyncDriver": {"title": "SyncDriver", "description": "Known dialects with their corresponding sync drivers.\n\nAttributes:\n    POSTGRESQL_PSYCOPG2 (Enum): [postgresql+psycopg2](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.psycopg2)\n    POSTGRESQL_PG8000 (Enum): [postgresql+pg8000](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pg8000)\n    POSTGRESQL_PSYCOPG2CFFI (Enum): [postgresql+psycopg2cffi](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.psycopg2cffi)\n    POSTGRESQL_PYPOSTGRESQL (Enum): [postgresql+pypostgresql](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pypostgresql)\n    POSTGRESQL_PYGRESQL (Enum): [postgresql+pygresql](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pygresql)\n\n    MYSQL_MYSQLDB (Enum): [mysql+mysqldb](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.mysqldb)\n    MYSQL_PYMYSQL (Enum): [mysql+pymysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.pymysql)\n    MYSQL_MYSQLCONNECTOR (Enum): [mysql+mysqlconnector](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.mysqlconnector)\n    MYSQL_CYMYSQL (Enum): [mysql+cymysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.cymysql)\n    MYSQL_OURSQL (Enum): [mysql+oursql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.oursql)\n    MYSQL_PYODBC (Enum): [mysql+pyodbc](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.pyodbc)\n\n    SQLITE_PYSQLITE (Enum): [sqlite+pysqlite](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.pysqlite)\n    SQLITE_PYSQLCIPHER (Enum): [sqlite+pysqlcipher](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.pysqlcipher)\n\n    ORACLE_CX_ORACLE (Enum): [oracle+cx_oracle](https://docs.sqlalchemy.org/en/14/dialects/oracle.html#module-sqlalchemy.dialects.oracle.cx_oracle)\n\n    MSSQL_PYODBC (Enum): [mssql+pyodbc](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.pyodbc)\n    MSSQL_MXODBC (Enum): [mssql+mxodbc](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.mxodbc)\n    MSSQL_PYMSSQL (Enum): [mssql+pymssql](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.pymssql)", "enum": ["postgresql+psycopg2", "postgresql+pg8000", "postgresql+psycopg2cffi", "postgresql+pypostgresql", "postgresql+pygresql", "mysql+mysqldb", "mysql+pymysql", "mysql+mysqlconnector", "mysql+cymysql", "mysql+oursql", "mysql+pyodbc", "sqlite+pysqlite", "sqlite+pysqlcipher", "oracle+cx_oracle", "mssql+pyodbc", "mssql+mxodbc", "mssql+pymssql"]}, "ConnectionComponents": {"title": "ConnectionComponents", "description": "Parameters to use to create a SQLAlchemy engine URL.\n\nAttributes:\n    driver: The driver name to use.\n    database: The name of the database to use.\n    username: The user name used to authenticate.\n    password: The password used to authenticate.\n    host: The host address of the database.\n    port: The port to connect to the database.\n    query: A dictionary of string keys to string values to be passed to the dialect\n        and/or the DBAPI upon connect.", "type": "object", "properties": {"driver": {"title": "Driver", "description": "The driver name to use.", "anyOf": [{"$ref": "#/definitions/AsyncDriver"}, {"$ref": "#/definitions/SyncDriver"}, {"type": "string"}]}, "database": {"title": "Database", "description": "The name of the database to use.", "type": "string"}, "username": {"title": "Username", "description": "The user name used to authenticate.", "type": "string"}, "password": {"title": "Password", "description": "The password used to authenticate.", "type": "string", "writeOnly": true, "format": "password"}, "host": {"title": "Host", "description": "The host address of the database.", "type": "string"}, "port": {"title": "Port", "description": "The port to connect to the database.", "type": "string"}, "query": {"title": "Query", "description": "A dictionary of string keys to string values to be passed to the dialect and/or the DBAPI upon connect. To specify non-string parameters to a Python DBAPI directly, use connect_args.", "type": "object", "additionalProperties": {"type": "string"}}}, "required": ["driver", "database"]}}}','7ec90d9b-8875-4cf0-ad7c-db096ad9a59e','sha256:1552a2d5c102961df4082329f39c10b8a51e26ee687148efd6d71ce8be8850c0','[]','0.4.1');
INSERT INTO "block_schema" VALUES('1e4b1bab-aa89-4773-8fe1-e16cb99c1ca4','2026-12-01 03:20:18.508978','2026-12-01 03:20:18.509047','{"title": "SqlAlchemyConnector", "description": "Block used to manage authentication with a database.\n\nUpon instantiating, an engine is created and maintained for the life of\nthe object until the close method is called.\n\nIt is recommended to use this block as a context manager, which will automatically\nclose the engine and its connections when the context is exited.\n\nIt is also recommended that this block is loaded and consumed within a single task\nor flow because if the block is passed across separate tasks and flows,\nthe state of the block''s connection and cursor could be lost.", "type": "object", "properties": {"connection_info": {"title": "Connection Info", "description": "SQLAlchemy URL to create the engine; either create from components or create from a string.", "anyOf": [{"$ref": "#/definitions/ConnectionComponents"}, {"type": "string", "minLength": 1, "maxLength": 65536, "format": "uri"}]}, "connect_args": {"title": "Additional Connection Arguments", "description": "The options which will be passed directly to the DBAPI''s connect() method as additional keyword arguments.", "type": "object"}, "fetch_size": {"title": "Fetch Size", "description": "The number of rows to fetch at a time.", "default": 1, "type": "integer"}}, "required": ["connection_info"], "block_type_slug": "sqlalchemy-connector", "secret_fields": ["connection_info.password"], "definitions": {"ConnectionComponents": {"title": "ConnectionComponents", "description": "Parameters to use to create a SQLAlchemy engine URL.\n\nAttributes:\n    driver: The driver name to use.\n    database: The name of the database to use.\n    username: The user name used to authenticate.\n    password: The password used to authenticate.\n    host: The host address of the database.\n    port: The port to connect to the database.\n    query: A dictionary of string keys to string values to be passed to the dialect\n        and/or the DBAPI upon connect.", "type": "object", "properties": {"driver": {"title": "Driver", "description": "The driver name to use.", "anyOf": [{"$ref": "#/definitions/AsyncDriver"}, {"$ref": "#/definitions/SyncDriver"}, {"type": "string"}]}, "database": {"title": "Database", "description": "The name of the database to use.", "type": "string"}, "username": {"title": "Username", "description": "The user name used to authenticate.", "type": "string"}, "password": {"title": "Password", "description": "The password used to authenticate.", "type": "string", "writeOnly": true, "format": "password"}, "host": {"title": "Host", "description": "The host address of the database.", "type": "string"}, "port": {"title": "Port", "description": "The port to connect to the database.", "type": "string"}, "query": {"title": "Query", "description": "A dictionary of string keys to string values to be passed to the dialect and/or the DBAPI upon connect. To specify non-string parameters to a Python DBAPI directly, use connect_args.", "type": "object", "additionalProperties": {"type": "string"}}}, "required": ["driver", "database"]}, "AsyncDriver": {"title": "AsyncDriver", "description": "Known dialects with their corresponding async drivers.\n\nAttributes:\n    POSTGRESQL_ASYNCPG (Enum): [postgresql+asyncpg](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.asyncpg)\n\n    SQLITE_AIOSQLITE (Enum): [sqlite+aiosqlite](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.aiosqlite)\n\n    MYSQL_ASYNCMY (Enum): [mysql+asyncmy](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.asyncmy)\n    MYSQL_AIOMYSQL (Enum): [mysql+aiomysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.aiomysql)", "enum": ["postgresql+asyncpg", "sqlite+aiosqlite", "mysql+asyncmy", "mysql+aiomysql"]}, "SyncDriver": {"title": "SyncDriver", "description": "Known dialects with their corresponding sync drivers.\n\nAttributes:\n    POSTGRESQL_PSYCOPG2 (Enum): [postgresql+psycopg2](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.psycopg2)\n    POSTGRESQL_PG8000 (Enum): [postgresql+pg8000](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pg8000)\n    POSTGRESQL_PSYCOPG2CFFI (Enum): [postgresql+psycopg2cffi](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.psycopg2cffi)\n    POSTGRESQL_PYPOSTGRESQL (Enum): [postgresql+pypostgresql](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pypostgresql)\n    POSTGRESQL_PYGRESQL (Enum): [postgresql+pygresql](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pygresql)\n\n    MYSQL_MYSQLDB (Enum): [mysql+mysqldb](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.mysqldb)\n    MYSQL_PYMYSQL (Enum): [mysql+pymysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.pymysql)\n    MYSQL_MYSQLCONNECTOR (Enum): [mysql+mysqlconnector](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.mysqlconnector)\n    MYSQL_CYMYSQL (Enum): [mysql+cymysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.cymysql)\n    MYSQL_OURSQL (Enum): [mysql+oursql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.oursql)\n    MYSQL_PYODBC (Enum): [mysql+pyodbc](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.pyodbc)\n\n    SQLITE_PYSQLITE (Enum): [sqlite+pysqlite](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.pysqlite)\n    SQLITE_PYSQLCIPHER (Enum): [sqlite+pysqlcipher](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.pysqlcipher)\n\n    ORACLE_CX_ORACLE (Enum): [oracle+cx_oracle](https://docs.sqlalchemy.org/en/14/dialects/oracle.html#module-sqlalchemy.dialects.oracle.cx_oracle)\n\n    MSSQL_PYODBC (Enum): [mssql+pyodbc](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.pyodbc)\n    MSSQL_MXODBC (Enum): [mssql+mxodbc](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.mxodbc)\n    MSSQL_PYMSSQL (Enum): [mssql+pymssql](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.pymssql)", "enum": ["postgresql+psycopg2", "postgresql+pg8000", "postgresql+psycopg2cffi", "postgresql+pypostgresql", "postgresql+pygresql", "mysql+mysqldb", "mysql+pymysql", "mysql+mysqlconnector", "mysql+cymysql", "mysql+oursql", "mysql+pyodbc", "sqlite+pysqlite", "sqlite+pysqlcipher", "oracle+cx_oracle", "mssql+pyodbc", "mssql+mxodbc", "mssql+pymssql"]}}}','10d9a922-9607-4151-b62f-c1a33e77dc62','sha256:01e6c0bdaac125860811b201f5a5e98ffefd5f8a49f1398b6996aec362643acc','[]','non-versioned');
INSERT INTO "block_schema" VALUES('7c517961-b163-4e56-8597-1af93cd84447','2026-12-01 03:20:18.535022','2026-12-01 03:20:18.535093','{"title": "DatabaseCredentials", "description": "Block used to manage authentication with a database.", "type": "object", "properties": {"driver": {"title": "Driver", "description": "The driver name to use.", "anyOf": [{"$ref": "#/definitions/AsyncDriver"}, {"$ref": "#/definitions/SyncDriver"}, {"type": "string"}]}, "username": {"title": "Username", "description": "The user name used to authenticate.", "type": "string"}, "password": {"title": "Password", "description": "The password used to authenticate.", "type": "string", "writeOnly": true, "format": "password"}, "database": {"title": "Database", "description": "The name of the database to use.", "type": "string"}, "host": {"title": "Host", "description": "The host address of the database.", "type": "string"}, "port": {"title": "Port", "description": "The port to connect to the database.", "type": "string"}, "query": {"title": "Query", "description": "A dictionary of string keys to string values to be passed to the dialect and/or the DBAPI upon connect. To specify non-string parameters to a Python DBAPI directly, use connect_args.", "type": "object", "additionalProperties": {"type": "string"}}, "url": {"title": "Url", "description": "Manually create and provide a URL to create the engine, this is useful for external dialects, e.g. Snowflake, because some of the params, such as ''warehouse'', is not directly supported in the vanilla `sqlalchemy.engine.URL.create` method; do not provide this alongside with other URL params as it will raise a `ValueError`.", "minLength": 1, "maxLength": 65536, "format": "uri", "type": "string"}, "connect_args": {"title": "Connect Args", "description": "The options which will be passed directly to the DBAPI''s connect() method as additional keyword arguments.", "type": "object"}}, "block_type_slug": "database-credentials", "secret_fields": ["password"], "definitions": {"AsyncDriver": {"title": "AsyncDriver", "description": "Known dialects with their corresponding async drivers.\n\nAttributes:\n    POSTGRESQL_ASYNCPG (Enum): [postgresql+asyncpg](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.asyncpg)\n\n    SQLITE_AIOSQLITE (Enum): [sqlite+aiosqlite](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.aiosqlite)\n\n    MYSQL_ASYNCMY (Enum): [mysql+asyncmy](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.asyncmy)\n    MYSQL_AIOMYSQL (Enum): [mysql+aiomysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.aiomysql)", "enum": ["postgresql+asyncpg", "sqlite+aiosqlite", "mysql+asyncmy", "mysql+aiomysql"]}, "SyncDriver": {"title": "SyncDriver", "description": "Known dialects with their corresponding sync drivers.\n\nAttributes:\n    POSTGRESQL_PSYCOPG2 (Enum): [postgresql+psycopg2](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.psycopg2)\n    POSTGRESQL_PG8000 (Enum): [postgresql+pg8000](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pg8000)\n    POSTGRESQL_PSYCOPG2CFFI (Enum): [postgresql+psycopg2cffi](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.psycopg2cffi)\n    POSTGRESQL_PYPOSTGRESQL (Enum): [postgresql+pypostgresql](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pypostgresql)\n    POSTGRESQL_PYGRESQL (Enum): [postgresql+pygresql](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pygresql)\n\n    MYSQL_MYSQLDB (Enum): [mysql+mysqldb](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.mysqldb)\n    MYSQL_PYMYSQL (Enum): [mysql+pymysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.pymysql)\n    MYSQL_MYSQLCONNECTOR (Enum): [mysql+mysqlconnector](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.mysqlconnector)\n    MYSQL_CYMYSQL (Enum): [mysql+cymysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.cymysql)\n    MYSQL_OURSQL (Enum): [mysql+oursql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.oursql)\n    MYSQL_PYODBC (Enum): [mysql+pyodbc](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.pyodbc)\n\n    SQLITE_PYSQLITE (Enum): [sqlite+pysqlite](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.pysqlite)\n    SQLITE_PYSQLCIPHER (Enum): [sqlite+pysqlcipher](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.pysqlcipher)\n\n    ORACLE_CX_ORACLE (Enum): [oracle+cx_oracle](https://docs.sqlalchemy.org/en/14/dialects/oracle.html#module-sqlalchemy.dialects.oracle.cx_oracle)\n\n    MSSQL_PYODBC (Enum): [mssql+pyodbc](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.pyodbc)\n    MSSQL_MXODBC (Enum): [mssql+mxodbc](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.mxodbc)\n    MSSQL_PYMSSQL (Enum): [mssql+pymssql](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.pymssql)", "enum": ["postgresql+psycopg2", "postgresql+pg8000", "postgresql+psycopg2cffi", "postgresql+pypostgresql", "postgresql+pygresql", "mysql+mysqldb", "mysql+pymysql", "mysql+mysqlconnector", "mysql+cymysql", "mysql+oursql", "mysql+pyodbc", "sqlite+pysqlite", "sqlite+pysqlcipher", "oracle+cx_oracle", "mssql+pyodbc", "mssql+mxodbc", "mssql+pymssql"]}, "ConnectionComponents": {"title": "ConnectionComponents", "description": "Parameters to use to create a SQLAlchemy engine URL.\n\nAttributes:\n    driver: The driver name to use.\n    database: The name of the database to use.\n    username: The user name used to authenticate.\n    password: The password used to authenticate.\n    host: The host address of the database.\n    port: The port to connect to the database.\n    query: A dictionary of string keys to string values to be passed to the dialect\n        and/or the DBAPI upon connect.", "type": "object", "properties": {"driver": {"title": "Driver", "description": "The driver name to use.", "anyOf": [{"$ref": "#/definitions/AsyncDriver"}, {"$ref": "#/definitions/SyncDriver"}, {"type": "string"}]}, "database": {"title": "Database", "description": "The name of the database to use.", "type": "string"}, "username": {"title": "Username", "description": "The user name used to authenticate.", "type": "string"}, "password": {"title": "Password", "description": "The password used to authenticate.", "type": "string", "writeOnly": true, "format": "password"}, "host": {"title": "Host", "description": "The host address of the database.", "type": "string"}, "port": {"title": "Port", "description": "The port to connect to the database.", "type": "string"}, "query": {"title": "Query", "description": "A dictionary of string keys to string values to be passed to the dialect and/or the DBAPI upon connect. To specify non-string parameters to a Python DBAPI directly, use connect_args.", "type": "object", "additionalProperties": {"type": "string"}}}, "required": ["driver", "database"]}}}','2a6ea45c-042c-40fc-b024-57208903f2a1','sha256:64175f83f2ae15bef7893a4d9a02658f2b5288747d54594ca6d356dc42e9993c','[]','non-versioned');
INSERT INTO "block_schema" VALUES('86c56aa0-5805-475c-bbfc-0c4612ecbf46','2026-12-01 03:20:18.560378','2026-12-01 03:20:18.560475','{"title": "DbtCliProfile", "description": "Profile for use across dbt CLI tasks and flows.", "type": "object", "properties": {"name": {"title": "Name", "description": "Profile name used for populating profiles.yml.", "type": "string"}, "target": {"title": "Target", "description": "The default target your dbt project will use.", "type": "string"}, "target_configs": {"title": "Target Configs", "description": "Target configs contain credentials and settings, specific to the warehouse you''re connecting to.", "anyOf": [{"$ref": "#/definitions/SnowflakeTargetConfigs"}, {"$ref": "#/definitions/BigQueryTargetConfigs"}, {"$ref": "#/definitions/PostgresTargetConfigs"}, {"$ref": "#/definitions/TargetConfigs"}]}, "global_configs": {"title": "Global Configs", "description": "Global configs control things like the visual output of logs, the manner in which dbt parses your project, and what to do when dbt finds a version mismatch or a failing model.", "allOf": [{"$ref": "#/definitions/GlobalConfigs"}]}}, "required": ["name", "target", "target_configs"], "block_type_slug": "dbt-cli-profile", "secret_fields": ["target_configs.connector.credentials.password", "target_configs.connector.credentials.private_key", "target_configs.connector.credentials.private_key_passphrase", "target_configs.connector.credentials.token", "target_configs.credentials.service_account_info.*", "target_configs.credentials.connection_info.password", "target_configs.credentials.password"], "definitions": {"AsyncDriver": {"title": "AsyncDriver", "description": "Known dialects with their corresponding async drivers.\n\nAttributes:\n    POSTGRESQL_ASYNCPG (Enum): [postgresql+asyncpg](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.asyncpg)\n\n    SQLITE_AIOSQLITE (Enum): [sqlite+aiosqlite](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.aiosqlite)\n\n    MYSQL_ASYNCMY (Enum): [mysql+asyncmy](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.asyncmy)\n    MYSQL_AIOMYSQL (Enum): [mysql+aiomysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.aiomysql)", "enum": ["postgresql+asyncpg", "sqlite+aiosqlite", "mysql+asyncmy", "mysql+aiomysql"]}, "SyncDriver": {"title": "SyncDriver", "description": "Known dialects with their corresponding sync drivers.\n\nAttributes:\n    POSTGRESQL_PSYCOPG2 (Enum): [postgresql+psycopg2](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.psycopg2)\n    POSTGRESQL_PG8000 (Enum): [postgresql+pg8000](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pg8000)\n    POSTGRESQL_PSYCOPG2CFFI (Enum): [postgresql+psycopg2cffi](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.psycopg2cffi)\n    POSTGRESQL_PYPOSTGRESQL (Enum): [postgresql+pypostgresql](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pypostgresql)\n    POSTGRESQL_PYGRESQL (Enum): [postgresql+pygresql](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pygresql)\n\n    MYSQL_MYSQLDB (Enum): [mysql+mysqldb](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.mysqldb)\n    MYSQL_PYMYSQL (Enum): [mysql+pymysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.pymysql)\n    MYSQL_MYSQLCONNECTOR (Enum): [mysql+mysqlconnector](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.mysqlconnector)\n    MYSQL_CYMYSQL (Enum): [mysql+cymysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.cymysql)\n    MYSQL_OURSQL (Enum): [mysql+oursql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.oursql)\n    MYSQL_PYODBC (Enum): [mysql+pyodbc](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.pyodbc)\n\n    SQLITE_PYSQLITE (Enum): [sqlite+pysqlite](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.pysqlite)\n    SQLITE_PYSQLCIPHER (Enum): [sqlite+pysqlcipher](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.pysqlcipher)\n\n    ORACLE_CX_ORACLE (Enum): [oracle+cx_oracle](https://docs.sqlalchemy.org/en/14/dialects/oracle.html#module-sqlalchemy.dialects.oracle.cx_oracle)\n\n    MSSQL_PYODBC (Enum): [mssql+pyodbc](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.pyodbc)\n    MSSQL_MXODBC (Enum): [mssql+mxodbc](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.mxodbc)\n    MSSQL_PYMSSQL (Enum): [mssql+pymssql](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.pymssql)", "enum": ["postgresql+psycopg2", "postgresql+pg8000", "postgresql+psycopg2cffi", "postgresql+pypostgresql", "postgresql+pygresql", "mysql+mysqldb", "mysql+pymysql", "mysql+mysqlconnector", "mysql+cymysql", "mysql+oursql", "mysql+pyodbc", "sqlite+pysqlite", "sqlite+pysqlcipher", "oracle+cx_oracle", "mssql+pyodbc", "mssql+mxodbc", "mssql+pymssql"]}, "ConnectionComponents": {"title": "ConnectionComponents", "description": "Parameters to use to create a SQLAlchemy engine URL.\n\nAttributes:\n    driver: The driver name to use.\n    database: The name of the database to use.\n    username: The user name used to authenticate.\n    password: The password used to authenticate.\n    host: The host address of the database.\n    port: The port to connect to the database.\n    query: A dictionary of string keys to string values to be passed to the dialect\n        and/or the DBAPI upon connect.", "type": "object", "properties": {"driver": {"title": "Driver", "description": "The driver name to use.", "anyOf": [{"$ref": "#/definitions/AsyncDriver"}, {"$ref": "#/definitions/SyncDriver"}, {"type": "string"}]}, "database": {"title": "Database", "description": "The name of the database to use.", "type": "string"}, "username": {"title": "Username", "description": "The user name used to authenticate.", "type": "string"}, "password": {"title": "Password", "description": "The password used to authenticate.", "type": "string", "writeOnly": true, "format": "password"}, "host": {"title": "Host", "description": "The host address of the database.", "type": "string"}, "port": {"title": "Port", "description": "The port to connect to the database.", "type": "string"}, "query": {"title": "Query", "description": "A dictionary of string keys to string values to be passed to the dialect and/or the DBAPI upon connect. To specify non-string parameters to a Python DBAPI directly, use connect_args.", "type": "object", "additionalProperties": {"type": "string"}}}, "required": ["driver", "database"]}}}','1efdb0c9-e872-4a1f-997c-c8d90af38c21','sha256:f55b0f96cb9e1cf2f508bb882b25d9246b351be8b0ad18140a73281674a40d6d','[]','0.4.1');
INSERT INTO "block_schema" VALUES('8fe26388-583c-4071-9e8d-1e0ec9476069','2026-12-01 03:20:18.587645','2026-12-01 03:20:18.587721','{"title": "SnowflakeTargetConfigs", "description": "Target configs contain credentials and\nsettings, specific to Snowflake.\nTo find valid keys, head to the [Snowflake Profile](\nhttps://docs.getdbt.com/reference/warehouse-profiles/snowflake-profile)\npage.", "type": "object", "properties": {"extras": {"title": "Extras", "description": "Extra target configs'' keywords, not yet exposed in prefect-dbt, but available in dbt.", "type": "object"}, "allow_field_overrides": {"title": "Allow Field Overrides", "description": "If enabled, fields from dbt target configs will override fields provided in extras and credentials.", "default": false, "type": "boolean"}, "type": {"title": "Type", "description": "The type of the target configs.", "default": "snowflake", "enum": ["snowflake"], "type": "string"}, "schema": {"title": "Schema", "description": "The schema to use for the target configs.", "type": "string"}, "threads": {"title": "Threads", "description": "The number of threads representing the max number of paths through the graph dbt may work on at once.", "default": 4, "type": "integer"}, "connector": {"title": "Connector", "description": "The connector to use.", "allOf": [{"$ref": "#/definitions/SnowflakeConnector"}]}}, "required": ["connector"], "block_type_slug": "dbt-cli-snowflake-target-configs", "secret_fields": ["connector.credentials.password", "connector.credentials.private_key", "connector.credentials.private_key_passphrase", "connector.credentials.token"], "definitions": {"AsyncDriver": {"title": "AsyncDriver", "description": "Known dialects with their corresponding async drivers.\n\nAttributes:\n    POSTGRESQL_ASYNCPG (Enum): [postgresql+asyncpg](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.asyncpg)\n\n    SQLITE_AIOSQLITE (Enum): [sqlite+aiosqlite](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.aiosqlite)\n\n    MYSQL_ASYNCMY (Enum): [mysql+asyncmy](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.asyncmy)\n    MYSQL_AIOMYSQL (Enum): [mysql+aiomysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.aiomysql)", "enum": ["postgresql+asyncpg", "sqlite+aiosqlite", "mysql+asyncmy", "mysql+aiomysql"]}, "SyncDriver": {"title": "SyncDriver", "description": "Known dialects with their corresponding sync drivers.\n\nAttributes:\n    POSTGRESQL_PSYCOPG2 (Enum): [postgresql+psycopg2](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.psycopg2)\n    POSTGRESQL_PG8000 (Enum): [postgresql+pg8000](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pg8000)\n    POSTGRESQL_PSYCOPG2CFFI (Enum): [postgresql+psycopg2cffi](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.psycopg2cffi)\n    POSTGRESQL_PYPOSTGRESQL (Enum): [postgresql+pypostgresql](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pypostgresql)\n    POSTGRESQL_PYGRESQL (Enum): [postgresql+pygresql](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pygresql)\n\n    MYSQL_MYSQLDB (Enum): [mysql+mysqldb](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.mysqldb)\n    MYSQL_PYMYSQL (Enum): [mysql+pymysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.pymysql)\n    MYSQL_MYSQLCONNECTOR (Enum): [mysql+mysqlconnector](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.mysqlconnector)\n    MYSQL_CYMYSQL (Enum): [mysql+cymysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.cymysql)\n    MYSQL_OURSQL (Enum): [mysql+oursql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.oursql)\n    MYSQL_PYODBC (Enum): [mysql+pyodbc](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.pyodbc)\n\n    SQLITE_PYSQLITE (Enum): [sqlite+pysqlite](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.pysqlite)\n    SQLITE_PYSQLCIPHER (Enum): [sqlite+pysqlcipher](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.pysqlcipher)\n\n    ORACLE_CX_ORACLE (Enum): [oracle+cx_oracle](https://docs.sqlalchemy.org/en/14/dialects/oracle.html#module-sqlalchemy.dialects.oracle.cx_oracle)\n\n    MSSQL_PYODBC (Enum): [mssql+pyodbc](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.pyodbc)\n    MSSQL_MXODBC (Enum): [mssql+mxodbc](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.mxodbc)\n    MSSQL_PYMSSQL (Enum): [mssql+pymssql](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.pymssql)", "enum": ["postgresql+psycopg2", "postgresql+pg8000", "postgresql+psycopg2cffi", "postgresql+pypostgresql", "postgresql+pygresql", "mysql+mysqldb", "mysql+pymysql", "mysql+mysqlconnector", "mysql+cymysql", "mysql+oursql", "mysql+pyodbc", "sqlite+pysqlite", "sqlite+pysqlcipher", "oracle+cx_oracle", "mssql+pyodbc", "mssql+mxodbc", "mssql+pymssql"]}, "ConnectionComponents": {"title": "ConnectionComponents", "description": "Parameters to use to create a SQLAlchemy engine URL.\n\nAttributes:\n    driver: The driver name to use.\n    database: The name of the database to use.\n    username: The user name used to authenticate.\n    password: The password used to authenticate.\n    host: The host address of the database.\n    port: The port to connect to the database.\n    query: A dictionary of string keys to string values to be passed to the dialect\n        and/or the DBAPI upon connect.", "type": "object", "properties": {"driver": {"title": "Driver", "description": "The driver name to use.", "anyOf": [{"$ref": "#/definitions/AsyncDriver"}, {"$ref": "#/definitions/SyncDriver"}, {"type": "string"}]}, "database": {"title": "Database", "description": "The name of the database to use.", "type": "string"}, "username": {"title": "Username", "description": "The user name used to authenticate.", "type": "string"}, "password": {"title": "Password", "description": "The password used to authenticate.", "type": "string", "writeOnly": true, "format": "password"}, "host": {"title": "Host", "description": "The host address of the database.", "type": "string"}, "port": {"title": "Port", "description": "The port to connect to the database.", "type": "string"}, "query": {"title": "Query", "description": "A dictionary of string keys to string values to be passed to the dialect and/or the DBAPI upon connect. To specify non-string parameters to a Python DBAPI directly, use connect_args.", "type": "object", "additionalProperties": {"type": "string"}}}, "required": ["driver", "database"]}}}','eeafab7b-d729-4457-aaf8-0767fbc70073','sha256:a70fca75226dc280c38ab0dda3679d3b0ffdee21af4463f3fb1ad6278405e370','[]','non-versioned');
INSERT INTO "block_schema" VALUES('295aa5b5-34c1-44db-ad0b-59efd0bc682a','2026-12-01 03:20:18.607672','2026-12-01 03:20:18.607747','{"title": "SnowflakeConnector", "description": "Perform data operations against a Snowflake database.", "type": "object", "properties": {"credentials": {"title": "Credentials", "description": "The credentials to authenticate with Snowflake.", "allOf": [{"$ref": "#/definitions/SnowflakeCredentials"}]}, "database": {"title": "Database", "description": "The name of the default database to use.", "type": "string"}, "warehouse": {"title": "Warehouse", "description": "The name of the default warehouse to use.", "type": "string"}, "schema": {"title": "Schema", "description": "The name of the default schema to use.", "type": "string"}, "fetch_size": {"title": "Fetch Size", "description": "The default number of rows to fetch at a time.", "default": 1, "type": "integer"}, "poll_frequency_s": {"title": "Poll Frequency [seconds]", "description": "The number of seconds between checking query status for long running queries.", "default": 1, "type": "integer"}}, "required": ["credentials", "database", "warehouse", "schema"], "block_type_slug": "snowflake-connector", "secret_fields": ["credentials.password", "credentials.private_key", "credentials.private_key_passphrase", "credentials.token"], "definitions": {"AsyncDriver": {"title": "AsyncDriver", "description": "Known dialects with their corresponding async drivers.\n\nAttributes:\n    POSTGRESQL_ASYNCPG (Enum): [postgresql+asyncpg](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.asyncpg)\n\n    SQLITE_AIOSQLITE (Enum): [sqlite+aiosqlite](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.aiosqlite)\n\n    MYSQL_ASYNCMY (Enum): [mysql+asyncmy](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.asyncmy)\n    MYSQL_AIOMYSQL (Enum): [mysql+aiomysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.aiomysql)", "enum": ["postgresql+asyncpg", "sqlite+aiosqlite", "mysql+asyncmy", "mysql+aiomysql"]}, "SyncDriver": {"title": "SyncDriver", "description": "Known dialects with their corresponding sync drivers.\n\nAttributes:\n    POSTGRESQL_PSYCOPG2 (Enum): [postgresql+psycopg2](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.psycopg2)\n    POSTGRESQL_PG8000 (Enum): [postgresql+pg8000](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pg8000)\n    POSTGRESQL_PSYCOPG2CFFI (Enum): [postgresql+psycopg2cffi](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.psycopg2cffi)\n    POSTGRESQL_PYPOSTGRESQL (Enum): [postgresql+pypostgresql](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pypostgresql)\n    POSTGRESQL_PYGRESQL (Enum): [postgresql+pygresql](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pygresql)\n\n    MYSQL_MYSQLDB (Enum): [mysql+mysqldb](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.mysqldb)\n    MYSQL_PYMYSQL (Enum): [mysql+pymysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.pymysql)\n    MYSQL_MYSQLCONNECTOR (Enum): [mysql+mysqlconnector](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.mysqlconnector)\n    MYSQL_CYMYSQL (Enum): [mysql+cymysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.cymysql)\n    MYSQL_OURSQL (Enum): [mysql+oursql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.oursql)\n    MYSQL_PYODBC (Enum): [mysql+pyodbc](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.pyodbc)\n\n    SQLITE_PYSQLITE (Enum): [sqlite+pysqlite](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.pysqlite)\n    SQLITE_PYSQLCIPHER (Enum): [sqlite+pysqlcipher](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.pysqlcipher)\n\n    ORACLE_CX_ORACLE (Enum): [oracle+cx_oracle](https://docs.sqlalchemy.org/en/14/dialects/oracle.html#module-sqlalchemy.dialects.oracle.cx_oracle)\n\n    MSSQL_PYODBC (Enum): [mssql+pyodbc](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.pyodbc)\n    MSSQL_MXODBC (Enum): [mssql+mxodbc](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.mxodbc)\n    MSSQL_PYMSSQL (Enum): [mssql+pymssql](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.pymssql)", "enum": ["postgresql+psycopg2", "postgresql+pg8000", "postgresql+psycopg2cffi", "postgresql+pypostgresql", "postgresql+pygresql", "mysql+mysqldb", "mysql+pymysql", "mysql+mysqlconnector", "mysql+cymysql", "mysql+oursql", "mysql+pyodbc", "sqlite+pysqlite", "sqlite+pysqlcipher", "oracle+cx_oracle", "mssql+pyodbc", "mssql+mxodbc", "mssql+pymssql"]}, "ConnectionComponents": {"title": "ConnectionComponents", "description": "Parameters to use to create a SQLAlchemy engine URL.\n\nAttributes:\n    driver: The driver name to use.\n    database: The name of the database to use.\n    username: The user name used to authenticate.\n    password: The password used to authenticate.\n    host: The host address of the database.\n    port: The port to connect to the database.\n    query: A dictionary of string keys to string values to be passed to the dialect\n        and/or the DBAPI upon connect.", "type": "object", "properties": {"driver": {"title": "Driver", "description": "The driver name to use.", "anyOf": [{"$ref": "#/definitions/AsyncDriver"}, {"$ref": "#/definitions/SyncDriver"}, {"type": "string"}]}, "database": {"title": "Database", "description": "The name of the database to use.", "type": "string"}, "username": {"title": "Username", "description": "The user name used to authenticate.", "type": "string"}, "password": {"title": "Password", "description": "The password used to authenticate.", "type": "string", "writeOnly": true, "format": "password"}, "host": {"title": "Host", "description": "The host address of the database.", "type": "string"}, "port": {"title": "Port", "description": "The port to connect to the database.", "type": "string"}, "query": {"title": "Query", "description": "A dictionary of string keys to string values to be passed to the dialect and/or the DBAPI upon connect. To specify non-string parameters to a Python DBAPI directly, use connect_args.", "type": "object", "additionalProperties": {"type": "string"}}}, "required": ["driver", "database"]}}}','a5d2aeb4-4f0b-4730-baa3-5f84a9ec296f','sha256:a8cba7cafe80dd13d0dc167f351c2dda8d17698b02c7a2f9e7e0fceb1da00994','[]','non-versioned');
INSERT INTO "block_schema" VALUES('e73dcc03-a2da-4ec1-8fbf-937af5e62d89','2026-12-01 03:20:18.631353','2026-12-01 03:20:18.631423','{"title": "SnowflakeCredentials", "description": "Block used to manage authentication with Snowflake.", "type": "object", "properties": {"account": {"title": "Account", "description": "The snowflake account name.", "example": "nh12345.us-east-2.aws", "type": "string"}, "user": {"title": "User", "description": "The user name used to authenticate.", "type": "string"}, "password": {"title": "Password", "description": "The password used to authenticate.", "type": "string", "writeOnly": true, "format": "password"}, "private_key": {"title": "Private Key", "description": "The PEM used to authenticate.", "type": "string", "writeOnly": true, "format": "password"}, "private_key_path": {"title": "Private Key Path", "description": "The path to the private key.", "type": "string", "format": "path"}, "private_key_passphrase": {"title": "Private Key Passphrase", "description": "The password to use for the private key.", "type": "string", "writeOnly": true, "format": "password"}, "authenticator": {"title": "Authenticator", "description": "The type of authenticator to use for initializing connection.", "default": "snowflake", "enum": ["snowflake", "snowflake_jwt", "externalbrowser", "okta_endpoint", "oauth", "username_password_mfa"], "type": "string"}, "token": {"title": "Token", "description": "The OAuth or JWT Token to provide when authenticator is set to `oauth`.", "type": "string", "writeOnly": true, "format": "password"}, "endpoint": {"title": "Endpoint", "description": "The Okta endpoint to use when authenticator is set to `okta_endpoint`.", "type": "string"}, "role": {"title": "Role", "description": "The name of the default role to use.", "type": "string"}, "autocommit": {"title": "Autocommit", "description": "Whether to automatically commit.", "type": "boolean"}}, "required": ["account", "user"], "block_type_slug": "snowflake-credentials", "secret_fields": ["password", "private_key", "private_key_passphrase", "token"], "definitions": {"AsyncDriver": {"title": "AsyncDriver", "description": "Known dialects with their corresponding async drivers.\n\nAttributes:\n    POSTGRESQL_ASYNCPG (Enum): [postgresql+asyncpg](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.asyncpg)\n\n    SQLITE_AIOSQLITE (Enum): [sqlite+aiosqlite](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.aiosqlite)\n\n    MYSQL_ASYNCMY (Enum): [mysql+asyncmy](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.asyncmy)\n    MYSQL_AIOMYSQL (Enum): [mysql+aiomysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.aiomysql)", "enum": ["postgresql+asyncpg", "sqlite+aiosqlite", "mysql+asyncmy", "mysql+aiomysql"]}, "SyncDriver": {"title": "SyncDriver", "description": "Known dialects with their corresponding sync drivers.\n\nAttributes:\n    POSTGRESQL_PSYCOPG2 (Enum): [postgresql+psycopg2](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.psycopg2)\n    POSTGRESQL_PG8000 (Enum): [postgresql+pg8000](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pg8000)\n    POSTGRESQL_PSYCOPG2CFFI (Enum): [postgresql+psycopg2cffi](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.psycopg2cffi)\n    POSTGRESQL_PYPOSTGRESQL (Enum): [postgresql+pypostgresql](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pypostgresql)\n    POSTGRESQL_PYGRESQL (Enum): [postgresql+pygresql](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pygresql)\n\n    MYSQL_MYSQLDB (Enum): [mysql+mysqldb](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.mysqldb)\n    MYSQL_PYMYSQL (Enum): [mysql+pymysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.pymysql)\n    MYSQL_MYSQLCONNECTOR (Enum): [mysql+mysqlconnector](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.mysqlconnector)\n    MYSQL_CYMYSQL (Enum): [mysql+cymysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.cymysql)\n    MYSQL_OURSQL (Enum): [mysql+oursql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.oursql)\n    MYSQL_PYODBC (Enum): [mysql+pyodbc](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.pyodbc)\n\n    SQLITE_PYSQLITE (Enum): [sqlite+pysqlite](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.pysqlite)\n    SQLITE_PYSQLCIPHER (Enum): [sqlite+pysqlcipher](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.pysqlcipher)\n\n    ORACLE_CX_ORACLE (Enum): [oracle+cx_oracle](https://docs.sqlalchemy.org/en/14/dialects/oracle.html#module-sqlalchemy.dialects.oracle.cx_oracle)\n\n    MSSQL_PYODBC (Enum): [mssql+pyodbc](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.pyodbc)\n    MSSQL_MXODBC (Enum): [mssql+mxodbc](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.mxodbc)\n    MSSQL_PYMSSQL (Enum): [mssql+pymssql](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.pymssql)", "enum": ["postgresql+psycopg2", "postgresql+pg8000", "postgresql+psycopg2cffi", "postgresql+pypostgresql", "postgresql+pygresql", "mysql+mysqldb", "mysql+pymysql", "mysql+mysqlconnector", "mysql+cymysql", "mysql+oursql", "mysql+pyodbc", "sqlite+pysqlite", "sqlite+pysqlcipher", "oracle+cx_oracle", "mssql+pyodbc", "mssql+mxodbc", "mssql+pymssql"]}, "ConnectionComponents": {"title": "ConnectionComponents", "description": "Parameters to use to create a SQLAlchemy engine URL.\n\nAttributes:\n    driver: The driver name to use.\n    database: The name of the database to use.\n    username: The user name used to authenticate.\n    password: The password used to authenticate.\n    host: The host address of the database.\n    port: The port to connect to the database.\n    query: A dictionary of string keys to string values to be passed to the dialect\n        and/or the DBAPI upon connect.", "type": "object", "properties": {"driver": {"title": "Driver", "description": "The driver name to use.", "anyOf": [{"$ref": "#/definitions/AsyncDriver"}, {"$ref": "#/definitions/SyncDriver"}, {"type": "string"}]}, "database": {"title": "Database", "description": "The name of the database to use.", "type": "string"}, "username": {"title": "Username", "description": "The user name used to authenticate.", "type": "string"}, "password": {"title": "Password", "description": "The password used to authenticate.", "type": "string", "writeOnly": true, "format": "password"}, "host": {"title": "Host", "description": "The host address of the database.", "type": "string"}, "port": {"title": "Port", "description": "The port to connect to the database.", "type": "string"}, "query": {"title": "Query", "description": "A dictionary of string keys to string values to be passed to the dialect and/or the DBAPI upon connect. To specify non-string parameters to a Python DBAPI directly, use connect_args.", "type": "object", "additionalProperties": {"type": "string"}}}, "required": ["driver", "database"]}}}','799ba8b8-06c3-4006-97a9-1a19b118480c','sha256:35bea1e0ca2277b003ca6d1c220e59ce9a58330934c051fe26a549c2fa380b1f','[]','non-versioned');
INSERT INTO "block_schema" VALUES('16bdfb42-f0ee-4d0d-b49b-2f1622b73b0d','2026-12-01 03:20:18.700807','2026-12-01 03:20:18.700888','{"title": "TargetConfigs", "description": "Target configs contain credentials and\nsettings, specific to the warehouse you''re connecting to.\nTo find valid keys, head to the [Available adapters](\nhttps://docs.getdbt.com/docs/available-adapters) page and\nclick the desired adapter''s \"Profile Setup\" hyperlink.", "type": "object", "properties": {"extras": {"title": "Extras", "description": "Extra target configs'' keywords, not yet exposed in prefect-dbt, but available in dbt.", "type": "object"}, "allow_field_overrides": {"title": "Allow Field Overrides", "description": "If enabled, fields from dbt target configs will override fields provided in extras and credentials.", "default": false, "type": "boolean"}, "type": {"title": "Type", "description": "The name of the database warehouse.", "type": "string"}, "schema": {"title": "Schema", "description": "The schema that dbt will build objects into; in BigQuery, a schema is actually a dataset.", "type": "string"}, "threads": {"title": "Threads", "description": "The number of threads representing the max number of paths through the graph dbt may work on at once.", "default": 4, "type": "integer"}}, "required": ["type", "schema"], "block_type_slug": "dbt-cli-target-configs", "secret_fields": [], "definitions": {"AsyncDriver": {"title": "AsyncDriver", "description": "Known dialects with their corresponding async drivers.\n\nAttributes:\n    POSTGRESQL_ASYNCPG (Enum): [postgresql+asyncpg](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.asyncpg)\n\n    SQLITE_AIOSQLITE (Enum): [sqlite+aiosqlite](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.aiosqlite)\n\n    MYSQL_ASYNCMY (Enum): [mysql+asyncmy](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.asyncmy)\n    MYSQL_AIOMYSQL (Enum): [mysql+aiomysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.aiomysql)", "enum": ["postgresql+asyncpg", "sqlite+aiosqlite", "mysql+asyncmy", "mysql+aiomysql"]}, "SyncDriver": {"title": "SyncDriver", "description": "Known dialects with their corresponding sync drivers.\n\nAttributes:\n    POSTGRESQL_PSYCOPG2 (Enum): [postgresql+psycopg2](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.psycopg2)\n    POSTGRESQL_PG8000 (Enum): [postgresql+pg8000](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pg8000)\n    POSTGRESQL_PSYCOPG2CFFI (Enum): [postgresql+psycopg2cffi](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.psycopg2cffi)\n    POSTGRESQL_PYPOSTGRESQL (Enum): [postgresql+pypostgresql](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pypostgresql)\n    POSTGRESQL_PYGRESQL (Enum): [postgresql+pygresql](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pygresql)\n\n    MYSQL_MYSQLDB (Enum): [mysql+mysqldb](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.mysqldb)\n    MYSQL_PYMYSQL (Enum): [mysql+pymysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.pymysql)\n    MYSQL_MYSQLCONNECTOR (Enum): [mysql+mysqlconnector](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.mysqlconnector)\n    MYSQL_CYMYSQL (Enum): [mysql+cymysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.cymysql)\n    MYSQL_OURSQL (Enum): [mysql+oursql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.oursql)\n    MYSQL_PYODBC (Enum): [mysql+pyodbc](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.pyodbc)\n\n    SQLITE_PYSQLITE (Enum): [sqlite+pysqlite](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.pysqlite)\n    SQLITE_PYSQLCIPHER (Enum): [sqlite+pysqlcipher](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.pysqlcipher)\n\n    ORACLE_CX_ORACLE (Enum): [oracle+cx_oracle](https://docs.sqlalchemy.org/en/14/dialects/oracle.html#module-sqlalchemy.dialects.oracle.cx_oracle)\n\n    MSSQL_PYODBC (Enum): [mssql+pyodbc](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.pyodbc)\n    MSSQL_MXODBC (Enum): [mssql+mxodbc](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.mxodbc)\n    MSSQL_PYMSSQL (Enum): [mssql+pymssql](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.pymssql)", "enum": ["postgresql+psycopg2", "postgresql+pg8000", "postgresql+psycopg2cffi", "postgresql+pypostgresql", "postgresql+pygresql", "mysql+mysqldb", "mysql+pymysql", "mysql+mysqlconnector", "mysql+cymysql", "mysql+oursql", "mysql+pyodbc", "sqlite+pysqlite", "sqlite+pysqlcipher", "oracle+cx_oracle", "mssql+pyodbc", "mssql+mxodbc", "mssql+pymssql"]}, "ConnectionComponents": {"title": "ConnectionComponents", "description": "Parameters to use to create a SQLAlchemy engine URL.\n\nAttributes:\n    driver: The driver name to use.\n    database: The name of the database to use.\n    username: The user name used to authenticate.\n    password: The password used to authenticate.\n    host: The host address of the database.\n    port: The port to connect to the database.\n    query: A dictionary of string keys to string values to be passed to the dialect\n        and/or the DBAPI upon connect.", "type": "object", "properties": {"driver": {"title": "Driver", "description": "The driver name to use.", "anyOf": [{"$ref": "#/definitions/AsyncDriver"}, {"$ref": "#/definitions/SyncDriver"}, {"type": "string"}]}, "database": {"title": "Database", "description": "The name of the database to use.", "type": "string"}, "username": {"title": "Username", "description": "The user name used to authenticate.", "type": "string"}, "password": {"title": "Password", "description": "The password used to authenticate.", "type": "string", "writeOnly": true, "format": "password"}, "host": {"title": "Host", "description": "The host address of the database.", "type": "string"}, "port": {"title": "Port", "description": "The port to connect to the database.", "type": "string"}, "query": {"title": "Query", "description": "A dictionary of string keys to string values to be passed to the dialect and/or the DBAPI upon connect. To specify non-string parameters to a Python DBAPI directly, use connect_args.", "type": "object", "additionalProperties": {"type": "string"}}}, "required": ["driver", "database"]}}}','d55cc565-b133-4af9-ae7a-9aa5dc7b1ce3','sha256:d0c8411280a2529a973b70fb86142959008aad2fe3844c63ab03190e232f776a','[]','non-versioned');
INSERT INTO "block_schema" VALUES('9e5888f8-60c2-4df2-943c-e182a839fff3','2026-12-01 03:20:18.740600','2026-12-01 03:20:18.740671','{"title": "SnowflakeTargetConfigs", "description": "Target configs contain credentials and\nsettings, specific to Snowflake.\nTo find valid keys, head to the [Snowflake Profile](\nhttps://docs.getdbt.com/reference/warehouse-profiles/snowflake-profile)\npage.", "type": "object", "properties": {"extras": {"title": "Extras", "description": "Extra target configs'' keywords, not yet exposed in prefect-dbt, but available in dbt.", "type": "object"}, "allow_field_overrides": {"title": "Allow Field Overrides", "description": "If enabled, fields from dbt target configs will override fields provided in extras and credentials.", "default": false, "type": "boolean"}, "type": {"title": "Type", "description": "The type of the target configs.", "default": "snowflake", "enum": ["snowflake"], "type": "string"}, "schema": {"title": "Schema", "description": "The schema to use for the target configs.", "type": "string"}, "threads": {"title": "Threads", "description": "The number of threads representing the max number of paths through the graph dbt may work on at once.", "default": 4, "type": "integer"}, "connector": {"title": "Connector", "description": "The connector to use.", "allOf": [{"$ref": "#/definitions/SnowflakeConnector"}]}}, "required": ["connector"], "block_type_slug": "dbt-cli-snowflake-target-configs", "secret_fields": ["connector.credentials.password", "connector.credentials.private_key", "connector.credentials.private_key_passphrase", "connector.credentials.token"]}','eeafab7b-d729-4457-aaf8-0767fbc70073','sha256:1e5be296bb63d7e2b04f0e9b99543db12521af269399d10e2bc290da4244a575','[]','0.4.1');
INSERT INTO "block_schema" VALUES('acb3ee14-bc84-4ad4-ad87-f61fbe860dbd','2026-12-01 03:20:18.758790','2026-12-01 03:20:18.758862','{"title": "SnowflakeConnector", "description": "Perform data operations against a Snowflake database.", "type": "object", "properties": {"credentials": {"title": "Credentials", "description": "The credentials to authenticate with Snowflake.", "allOf": [{"$ref": "#/definitions/SnowflakeCredentials"}]}, "database": {"title": "Database", "description": "The name of the default database to use.", "type": "string"}, "warehouse": {"title": "Warehouse", "description": "The name of the default warehouse to use.", "type": "string"}, "schema": {"title": "Schema", "description": "The name of the default schema to use.", "type": "string"}, "fetch_size": {"title": "Fetch Size", "description": "The default number of rows to fetch at a time.", "default": 1, "type": "integer"}, "poll_frequency_s": {"title": "Poll Frequency [seconds]", "description": "The number of seconds between checking query status for long running queries.", "default": 1, "type": "integer"}}, "required": ["credentials", "database", "warehouse", "schema"], "block_type_slug": "snowflake-connector", "secret_fields": ["credentials.password", "credentials.private_key", "credentials.private_key_passphrase", "credentials.token"]}','a5d2aeb4-4f0b-4730-baa3-5f84a9ec296f','sha256:dd0d36d69bbe0d44870fd754f3c00754e37e3f52209590083eaee4c585ce0bd0','[]','non-versioned');
INSERT INTO "block_schema" VALUES('8e7c7a41-712f-4eef-80c6-9f6b00cc6f1c','2026-12-01 03:20:18.778628','2026-12-01 03:20:18.778702','{"title": "SnowflakeCredentials", "description": "Block used to manage authentication with Snowflake.", "type": "object", "properties": {"account": {"title": "Account", "description": "The snowflake account name.", "example": "nh12345.us-east-2.aws", "type": "string"}, "user": {"title": "User", "description": "The user name used to authenticate.", "type": "string"}, "password": {"title": "Password", "description": "The password used to authenticate.", "type": "string", "writeOnly": true, "format": "password"}, "private_key": {"title": "Private Key", "description": "The PEM used to authenticate.", "type": "string", "writeOnly": true, "format": "password"}, "private_key_path": {"title": "Private Key Path", "description": "The path to the private key.", "type": "string", "format": "path"}, "private_key_passphrase": {"title": "Private Key Passphrase", "description": "The password to use for the private key.", "type": "string", "writeOnly": true, "format": "password"}, "authenticator": {"title": "Authenticator", "description": "The type of authenticator to use for initializing connection.", "default": "snowflake", "enum": ["snowflake", "snowflake_jwt", "externalbrowser", "okta_endpoint", "oauth", "username_password_mfa"], "type": "string"}, "token": {"title": "Token", "description": "The OAuth or JWT Token to provide when authenticator is set to `oauth`.", "type": "string", "writeOnly": true, "format": "password"}, "endpoint": {"title": "Endpoint", "description": "The Okta endpoint to use when authenticator is set to `okta_endpoint`.", "type": "string"}, "role": {"title": "Role", "description": "The name of the default role to use.", "type": "string"}, "autocommit": {"title": "Autocommit", "description": "Whether to automatically commit.", "type": "boolean"}}, "required": ["account", "user"], "block_type_slug": "snowflake-credentials", "secret_fields": ["password", "private_key", "private_key_passphrase", "token"]}','799ba8b8-06c3-4006-97a9-1a19b118480c','sha256:b24edfb413527c951cb2a8b4b4c16aec096523f871d941889e29ac2e6e92e036','[]','non-versioned');
INSERT INTO "block_schema" VALUES('02c73426-5026-4501-8e9e-9cae791e3691','2026-12-01 03:20:18.807093','2026-12-01 03:20:18.807165','{"title": "TargetConfigs", "description": "Target configs contain credentials and\nsettings, specific to the warehouse you''re connecting to.\nTo find valid keys, head to the [Available adapters](\nhttps://docs.getdbt.com/docs/available-adapters) page and\nclick the desired adapter''s \"Profile Setup\" hyperlink.", "type": "object", "properties": {"extras": {"title": "Extras", "description": "Extra target configs'' keywords, not yet exposed in prefect-dbt, but available in dbt.", "type": "object"}, "allow_field_overrides": {"title": "Allow Field Overrides", "description": "If enabled, fields from dbt target configs will override fields provided in extras and credentials.", "default": false, "type": "boolean"}, "type": {"title": "Type", "description": "The name of the database warehouse.", "type": "string"}, "schema": {"title": "Schema", "description": "The schema that dbt will build objects into; in BigQuery, a schema is actually a dataset.", "type": "string"}, "threads": {"title": "Threads", "description": "The number of threads representing the max number of paths through the graph dbt may work on at once.", "default": 4, "type": "integer"}}, "required": ["type", "schema"], "block_type_slug": "dbt-cli-target-configs", "secret_fields": []}','d55cc565-b133-4af9-ae7a-9aa5dc7b1ce3','sha256:85f7476977e725617af89930889b843147320b2df37df911e24806dd6dacc870','[]','0.4.1');
INSERT INTO "block_schema" VALUES('4e444664-9e2f-4216-b564-19e461e41f7e','2026-12-01 03:20:18.827721','2026-12-01 03:20:18.827797','{"title": "DbtCloudCredentials", "description": "Credentials block for credential use across dbt Cloud tasks and flows.", "type": "object", "properties": {"api_key": {"title": "API Key", "description": "A dbt Cloud API key to use for authentication.", "type": "string", "writeOnly": true, "format": "password"}, "account_id": {"title": "Account ID", "description": "The ID of your dbt Cloud account.", "type": "integer"}, "domain": {"title": "Domain", "description": "The base domain of your dbt Cloud instance.", "default": "cloud.getdbt.com", "type": "string"}}, "required": ["api_key", "account_id"], "block_type_slug": "dbt-cloud-credentials", "secret_fields": ["api_key"]}','f811534c-2956-45e7-a11f-24c8ce2ce1db','sha256:0e1b2e94e09041e7d732822354503e87b99ddb31422d9d2c83c671be249aa231','[]','0.4.1');
INSERT INTO "block_schema" VALUES('6033bfe7-901c-4f36-b37e-942d77a1b522','2026-12-01 03:20:18.850315','2026-12-01 03:20:18.850397','{"title": "DbtCoreOperation", "description": "A block representing a dbt operation, containing multiple dbt and shell commands.\n\nFor long-lasting operations, use the trigger method and utilize the block as a\ncontext manager for automatic closure of processes when context is exited.\nIf not, manually call the close method to close processes.\n\nFor short-lasting operations, use the run method. Context is automatically managed\nwith this method.", "type": "object", "properties": {"commands": {"title": "Commands", "description": "A list of commands to execute sequentially.", "type": "array", "items": {"type": "string"}}, "stream_output": {"title": "Stream Output", "description": "Whether to stream output.", "default": true, "type": "boolean"}, "env": {"title": "Environment Variables", "description": "Environment variables to use for the subprocess.", "type": "object", "additionalProperties": {"type": "string"}}, "working_dir": {"title": "Working Directory", "description": "The absolute path to the working directory the command will be executed within.", "format": "directory-path", "type": "string"}, "shell": {"title": "Shell", "description": "The shell to run the command with; if unset, defaults to `powershell` on Windows and `bash` on other platforms.", "type": "string"}, "extension": {"title": "Extension", "description": "The extension to use for the temporary file; if unset, defaults to `.ps1` on Windows and `.sh` on other platforms.", "type": "string"}, "profiles_dir": {"title": "Profiles Dir", "description": "The directory to search for the profiles.yml file. Setting this appends the `--profiles-dir` option to the dbt commands provided. If this is not set, will try using the DBT_PROFILES_DIR environment variable, but if that''s also not set, will use the default directory `$HOME/.dbt/`.", "type": "string", "format": "path"}, "project_dir": {"title": "Project Dir", "description": "The directory to search for the dbt_project.yml file. Default is the current working directory and its parents.", "type": "string", "format": "path"}, "overwrite_profiles": {"title": "Overwrite Profiles", "description": "Whether the existing profiles.yml file under profiles_dir should be overwritten with a new profile.", "default": false, "type": "boolean"}, "dbt_cli_profile": {"title": "Dbt Cli Profile", "description": "Profiles class containing the profile written to profiles.yml. Note! This is optional and will raise an error if profiles.yml already exists under profile_dir and overwrite_profiles is set to False.", "allOf": [{"$ref": "#/definitions/DbtCliProfile"}]}}, "required": ["commands"], "block_type_slug": "dbt-core-operation", "secret_fields": ["dbt_cli_profile.target_configs.connector.credentials.password", "dbt_cli_profile.target_configs.connector.credentials.private_key", "dbt_cli_profile.target_configs.connector.credentials.private_key_passphrase", "dbt_cli_profile.target_configs.connector.credentials.token", "dbt_cli_profile.target_configs.credentials.service_account_info.*", "dbt_cli_profile.target_configs.credentials.connection_info.password", "dbt_cli_profile.target_configs.credentials.password"], "definitions": {"AsyncDriver": {"title": "AsyncDriver", "description": "Known dialects with their corresponding async drivers.\n\nAttributes:\n    POSTGRESQL_ASYNCPG (Enum): [postgresql+asyncpg](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.asyncpg)\n\n    SQLITE_AIOSQLITE (Enum): [sqlite+aiosqlite](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.aiosqlite)\n\n    MYSQL_ASYNCMY (Enum): [mysql+asyncmy](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.asyncmy)\n    MYSQL_AIOMYSQL (Enum): [mysql+aiomysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.aiomysql)", "enum": ["postgresql+asyncpg", "sqlite+aiosqlite", "mysql+asyncmy", "mysql+aiomysql"]}, "SyncDriver": {"title": "SyncDriver", "description": "Known dialects with their corresponding sync drivers.\n\nAttributes:\n    POSTGRESQL_PSYCOPG2 (Enum): [postgresql+psycopg2](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.psycopg2)\n    POSTGRESQL_PG8000 (Enum): [postgresql+pg8000](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pg8000)\n    POSTGRESQL_PSYCOPG2CFFI (Enum): [postgresql+psycopg2cffi](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.psycopg2cffi)\n    POSTGRESQL_PYPOSTGRESQL (Enum): [postgresql+pypostgresql](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pypostgresql)\n    POSTGRESQL_PYGRESQL (Enum): [postgresql+pygresql](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pygresql)\n\n    MYSQL_MYSQLDB (Enum): [mysql+mysqldb](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.mysqldb)\n    MYSQL_PYMYSQL (Enum): [mysql+pymysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.pymysql)\n    MYSQL_MYSQLCONNECTOR (Enum): [mysql+mysqlconnector](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.mysqlconnector)\n    MYSQL_CYMYSQL (Enum): [mysql+cymysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.cymysql)\n    MYSQL_OURSQL (Enum): [mysql+oursql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.oursql)\n    MYSQL_PYODBC (Enum): [mysql+pyodbc](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.pyodbc)\n\n    SQLITE_PYSQLITE (Enum): [sqlite+pysqlite](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.pysqlite)\n    SQLITE_PYSQLCIPHER (Enum): [sqlite+pysqlcipher](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.pysqlcipher)\n\n    ORACLE_CX_ORACLE (Enum): [oracle+cx_oracle](https://docs.sqlalchemy.org/en/14/dialects/oracle.html#module-sqlalchemy.dialects.oracle.cx_oracle)\n\n    MSSQL_PYODBC (Enum): [mssql+pyodbc](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.pyodbc)\n    MSSQL_MXODBC (Enum): [mssql+mxodbc](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.mxodbc)\n    MSSQL_PYMSSQL (Enum): [mssql+pymssql](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.pymssql)", "enum": ["postgresql+psycopg2", "postgresql+pg8000", "postgresql+psycopg2cffi", "postgresql+pypostgresql", "postgresql+pygresql", "mysql+mysqldb", "mysql+pymysql", "mysql+mysqlconnector", "mysql+cymysql", "mysql+oursql", "mysql+pyodbc", "sqlite+pysqlite", "sqlite+pysqlcipher", "oracle+cx_oracle", "mssql+pyodbc", "mssql+mxodbc", "mssql+pymssql"]}, "ConnectionComponents": {"title": "ConnectionComponents", "description": "Parameters to use to create a SQLAlchemy engine URL.\n\nAttributes:\n    driver: The driver name to use.\n    database: The name of the database to use.\n    username: The user name used to authenticate.\n    password: The password used to authenticate.\n    host: The host address of the database.\n    port: The port to connect to the database.\n    query: A dictionary of string keys to string values to be passed to the dialect\n        and/or the DBAPI upon connect.", "type": "object", "properties": {"driver": {"title": "Driver", "description": "The driver name to use.", "anyOf": [{"$ref": "#/definitions/AsyncDriver"}, {"$ref": "#/definitions/SyncDriver"}, {"type": "string"}]}, "database": {"title": "Database", "description": "The name of the database to use.", "type": "string"}, "username": {"title": "Username", "description": "The user name used to authenticate.", "type": "string"}, "password": {"title": "Password", "description": "The password used to authenticate.", "type": "string", "writeOnly": true, "format": "password"}, "host": {"title": "Host", "description": "The host address of the database.", "type": "string"}, "port": {"title": "Port", "description": "The port to connect to the database.", "type": "string"}, "query": {"title": "Query", "description": "A dictionary of string keys to string values to be passed to the dialect and/or the DBAPI upon connect. To specify non-string parameters to a Python DBAPI directly, use connect_args.", "type": "object", "additionalProperties": {"type": "string"}}}, "required": ["driver", "database"]}}}','9817c058-0374-49d3-b753-7991c57ffa19','sha256:0f685bc693353f66d1fc83687c8af67511feba052b5343506033141c9a2441c7','[]','0.4.1');
INSERT INTO "block_schema" VALUES('5161eb35-a742-4200-9985-6a8ac497e77a','2026-12-01 03:20:18.890339','2026-12-01 03:20:18.890421','{"title": "DockerHost", "description": "Store settings for interacting with a Docker host.", "type": "object", "properties": {"base_url": {"title": "Base URL", "description": "URL to the Docker host.", "example": "unix:///var/run/docker.sock", "type": "string"}, "version": {"title": "Version", "description": "The version of the API to use", "default": "auto", "type": "string"}, "timeout": {"title": "Timeout", "description": "Default timeout for API calls, in seconds.", "type": "integer"}, "max_pool_size": {"title": "Max Pool Size", "description": "The maximum number of connections to save in the pool.", "type": "integer"}, "client_kwargs": {"title": "Additional Configuration", "description": "Additional keyword arguments to pass to `docker.from_env()` or `DockerClient`.", "type": "object"}}, "block_type_slug": "docker-host", "secret_fields": []}','ab8b6472-9b18-4e18-99cb-497ca9378dbf','sha256:bf0961e9f2d88fd81bca2c7b78c025bd289776ad84ae8ef22d8f3db8b9561478','[]','0.4.5');
INSERT INTO "block_schema" VALUES('3f5e1410-28fc-4e8f-b2b9-7fc2ccd0d55e','2026-12-01 03:20:18.909646','2026-12-01 03:20:18.909723','{"title": "DockerRegistryCredentials", "description": "Store credentials for interacting with a Docker Registry.", "type": "object", "properties": {"username": {"title": "Username", "description": "The username to log into the registry with.", "type": "string"}, "password": {"title": "Password", "description": "The password to log into the registry with.", "type": "string", "writeOnly": true, "format": "password"}, "registry_url": {"title": "Registry Url", "description": "The URL to the registry. Generally, \"http\" or \"https\" can be omitted.", "example": "index.docker.io", "type": "string"}, "reauth": {"title": "Reauth", "description": "Whether or not to reauthenticate on each interaction.", "default": true, "type": "boolean"}}, "required": ["username", "password", "registry_url"], "block_type_slug": "docker-registry-credentials", "secret_fields": ["password"]}','41b2bb00-e932-4e37-9357-599dbdcbe95c','sha256:d5cbcfdf092e1f904ea26c274fcd0f23d86ecbbd0afae0f254f575ac3e40915d','[]','0.4.5');
INSERT INTO "block_schema" VALUES('8bae4c5b-d07d-44a2-8251-286df6414812','2026-12-01 03:20:18.929201','2026-12-01 03:20:18.929276','{"title": "EmailServerCredentials", "description": "Block used to manage generic email server authentication.\nIt is recommended you use a\n[Google App Password](https://support.google.com/accounts/answer/185833)\nif you use Gmail.", "type": "object", "properties": {"username": {"title": "Username", "description": "The username to use for authentication to the server. Unnecessary if SMTP login is not required.", "type": "string"}, "password": {"title": "Password", "description": "The password to use for authentication to the server. Unnecessary if SMTP login is not required.", "type": "string", "writeOnly": true, "format": "password"}, "smtp_server": {"title": "SMTP Server", "description": "Either the hostname of the SMTP server, or one of the keys from the built-in SMTPServer Enum members, like ''gmail''.", "default": "smtp.gmail.com", "anyOf": [{"$ref": "#/definitions/SMTPServer"}, {"type": "string"}]}, "smtp_type": {"title": "SMTP Type", "description": "Either ''SSL'', ''STARTTLS'', or ''INSECURE''.", "default": 465, "anyOf": [{"$ref": "#/definitions/SMTPType"}, {"type": "string"}]}, "smtp_port": {"title": "SMTP Port", "description": "If provided, overrides the smtp_type''s default port number.", "type": "integer"}}, "block_type_slug": "email-server-credentials", "secret_fields": ["password"], "definitions": {"SMTPServer": {"title": "SMTPServer", "description": "Server used to send email.", "enum": ["smtp.aol.com", "smtp.mail.att.net", "smtp.comcast.net", "smtp.mail.me.com", "smtp.gmail.com", "smtp-mail.outlook.com", "smtp.mail.yahoo.com"]}, "SMTPType": {"title": "SMTPType", "description": "Protocols used to secure email transmissions.", "enum": [465, 587, 25]}}}','76e30d0a-8223-4aee-8a5e-762bce797e40','sha256:56d6491f4b2d4aaae5ce604652416f44d0c8fa39ca68c5f747aee7cb518a41d0','[]','0.3.2');
INSERT INTO "block_schema" VALUES('081f0d5e-791a-4079-b655-a8632f543c23','2026-12-01 03:20:18.947049','2026-12-01 03:20:18.947126','{"title": "BigQueryWarehouse", "description": "A block for querying a database with BigQuery.\n\nUpon instantiating, a connection to BigQuery is established\nand maintained for the life of the object until the close method is called.\n\nIt is recommended to use this block as a context manager, which will automatically\nclose the connection and its cursors when the context is exited.\n\nIt is also recommended that this block is loaded and consumed within a single task\nor flow because if the block is passed across separate tasks and flows,\nthe state of the block''s connection and cursor could be lost.", "type": "object", "properties": {"gcp_credentials": {"$ref": "#/definitions/GcpCredentials"}, "fetch_size": {"title": "Fetch Size", "description": "The number of rows to fetch at a time.", "default": 1, "type": "integer"}}, "required": ["gcp_credentials"], "block_type_slug": "bigquery-warehouse", "secret_fields": ["gcp_credentials.service_account_info.*"]}','9815c13d-7518-4537-8739-0f27105f421b','sha256:e8495199f3b490e3b15ba1bc67a97cf04b23aa8a7cba67161291d7cbc882d025','[]','0.5.8');
INSERT INTO "block_schema" VALUES('cba70a8f-37bb-4090-8010-dcdda3b03d8d','2026-12-01 03:20:18.981558','2026-12-01 03:20:18.981634','{"title": "GcpCredentials", "description": "Block used to manage authentication with GCP. Google authentication is\nhandled via the `google.oauth2` module or through the CLI.\nSpecify either one of service `account_file` or `service_account_info`; if both\nare not specified, the client will try to detect the credentials following Google''s\n[Application Default Credentials](https://cloud.google.com/docs/authentication/application-default-credentials).\nSee Google''s [Authentication documentation](https://cloud.google.com/docs/authentication#service-accounts)\nfor details on inference and recommended authentication patterns.", "type": "object", "properties": {"service_account_file": {"title": "Service Account File", "description": "Path to the service account JSON keyfile.", "type": "string", "format": "path"}, "service_account_info": {"title": "Service Account Info", "description": "The contents of the keyfile as a dict.", "type": "object"}, "project": {"title": "Project", "description": "The GCP project to use for the client.", "type": "string"}}, "block_type_slug": "gcp-credentials", "secret_fields": ["service_account_info.*"]}','6138c214-2f18-4c04-8965-bb4f8a5608b5','sha256:f764f9c506a2bed9e5ed7cc9083d06d95f13c01c8c9a9e45bae5d9b4dc522624','[]','0.5.8');
INSERT INTO "block_schema" VALUES('4a38d0e0-31fa-474d-8fd9-7a78f18b82e5','2026-12-01 03:20:18.999318','2026-12-01 03:20:18.999391','{"title": "GcpSecret", "description": "Manages a secret in Google Cloud Platform''s Secret Manager.", "type": "object", "properties": {"gcp_credentials": {"$ref": "#/definitions/GcpCredentials"}, "secret_name": {"title": "Secret Name", "description": "Name of the secret to manage.", "type": "string"}, "secret_version": {"title": "Secret Version", "description": "Version number of the secret to use.", "default": "latest", "type": "string"}}, "required": ["gcp_credentials", "secret_name"], "block_type_slug": "gcpsecret", "secret_fields": ["gcp_credentials.service_account_info.*"]}','ca9ad399-05f0-45e5-8b40-5a6e98ce43b6','sha256:0311dc4cd2480a4af70d3b30ecd14d296243e73e7245ba064b753e4c0b25acdf','[]','0.5.8');
INSERT INTO "block_schema" VALUES('f17d78da-cfc8-4df8-9282-334f09ab1b20','2026-12-01 03:20:19.032607','2026-12-01 03:20:19.032674','{"title": "GcsBucket", "description": "Block used to store data using GCP Cloud Storage Buckets.\n\nNote! `GcsBucket` in `prefect-gcp` is a unique block, separate from `GCS`\nin core Prefect. `GcsBucket` does not use `gcsfs` under the hood,\ninstead using the `google-cloud-storage` package, and offers more configuration\nand functionality.", "type": "object", "properties": {"bucket": {"title": "Bucket", "description": "Name of the bucket.", "type": "string"}, "gcp_credentials": {"title": "Gcp Credentials", "description": "The credentials to authenticate with GCP.", "allOf": [{"$ref": "#/definitions/GcpCredentials"}]}, "bucket_folder": {"title": "Bucket Folder", "description": "A default path to a folder within the GCS bucket to use for reading and writing objects.", "default": "", "type": "string"}}, "required": ["bucket"], "block_type_slug": "gcs-bucket", "secret_fields": ["gcp_credentials.service_account_info.*"]}','6a5439ed-68d2-4e3c-a4fb-ccd634619bb5','sha256:6f44cdbd523fb8d4029fbc504a89095d67d27439aec09d2c1871b03a1f4e14e9','["get-directory", "put-directory", "read-path", "write-path"]','0.5.8');
INSERT INTO "block_schema" VALUES('fd35aa4c-0cec-4815-8ddc-d493cdfeea01','2026-12-01 03:20:19.064458','2026-12-01 03:20:19.064532','{"title": "GitHubCredentials", "description": "Block used to manage GitHub authentication.", "type": "object", "properties": {"token": {"title": "Token", "description": "A GitHub personal access token (PAT).", "type": "string", "writeOnly": true, "format": "password"}}, "block_type_slug": "github-credentials", "secret_fields": ["token"]}','0747afde-7856-4ba4-aec0-13c01ac43190','sha256:74a34b668838ba661d9160ab127053dd44a22dd04e89562839645791e70d046a','[]','0.2.2');
INSERT INTO "block_schema" VALUES('16dddbfb-f7a7-4a3b-897c-70b379f276cc','2026-12-01 03:20:19.082599','2026-12-01 03:20:19.082676','{"title": "GitHubRepository", "description": "Interact with files stored on GitHub repositories.", "type": "object", "properties": {"repository_url": {"title": "Repository URL", "description": "The URL of a GitHub repository to read from, in either HTTPS or SSH format. If you are using a private repo, it must be in the HTTPS format.", "type": "string"}, "reference": {"title": "Reference", "description": "An optional reference to pin to; can be a branch name or tag.", "type": "string"}, "credentials": {"title": "Credentials", "description": "An optional GitHubCredentials block for using private GitHub repos.", "allOf": [{"$ref": "#/definitions/GitHubCredentials"}]}}, "required": ["repository_url"], "block_type_slug": "github-repository", "secret_fields": ["credentials.token"]}','6025d1aa-72fd-4d87-9d59-e2600423a8b4','sha256:3d2b2de1cd9336264ccc73f7078264d9053dc956941136516e18050c9953abf0','["get-directory"]','0.2.2');
INSERT INTO "block_schema" VALUES('f14bd0ab-c7ab-4cad-8480-a99526718703','2026-12-01 03:20:19.121173','2026-12-01 03:20:19.121252','{"title": "GitLabCredentials", "description": "Store a GitLab personal access token to interact with private GitLab\nrepositories.", "type": "object", "properties": {"token": {"title": "Token", "description": "A GitLab Personal Access Token with read_repository scope.", "name": "Personal Access Token", "type": "string", "writeOnly": true, "format": "password"}, "url": {"title": "URL", "description": "URL to self-hosted GitLab instances.", "type": "string"}}, "block_type_slug": "gitlab-credentials", "secret_fields": ["token"]}','9cd5e333-5505-4e6f-811f-671a4753edb3','sha256:7d8d6317127bc66afe9e97ae5658ee8e1decdc598350eb292fb62be379f0246c','[]','0.2.2');
INSERT INTO "block_schema" VALUES('8d33927f-5bbc-4086-bb98-4d23276b69e5','2026-12-01 03:20:19.139847','2026-12-01 03:20:19.139920','{"title": "GitLabRepository", "description": "Interact with files stored in GitLab repositories.", "type": "object", "properties": {"repository": {"title": "Repository", "description": "The URL of a GitLab repository to read from, in either HTTP/HTTPS or SSH format.", "type": "string"}, "reference": {"title": "Reference", "description": "An optional reference to pin to; can be a branch name or tag.", "type": "string"}, "credentials": {"title": "Credentials", "description": "An optional GitLab Credentials block for authenticating with private GitLab repos.", "allOf": [{"$ref": "#/definitions/GitLabCredentials"}]}}, "required": ["repository"], "block_type_slug": "gitlab-repository", "secret_fields": ["credentials.token"]}','92eef7c4-b90d-4e6e-9563-8cce242011b0','sha256:ac874a97e2ff2403a4b63181b6ae85dd51b4a0df0337d290d922627f5123af44','["get-directory"]','0.2.2');
INSERT INTO "block_schema" VALUES('c1a762b4-be50-46e4-8d4d-73e01e613cee','2026-12-01 03:20:19.172519','2026-12-01 03:20:19.172595','{"title": "KubernetesClusterConfig", "description": "Stores configuration for interaction with Kubernetes clusters.\n\nSee `from_file` for creation.", "type": "object", "properties": {"config": {"title": "Config", "description": "The entire contents of a kubectl config file.", "type": "object"}, "context_name": {"title": "Context Name", "description": "The name of the kubectl context to use.", "type": "string"}}, "required": ["config", "context_name"], "block_type_slug": "kubernetes-cluster-config", "secret_fields": []}','3cf5293c-1b74-42c4-a8ea-ae1e6968520e','sha256:90d421e948bfbe4cdc98b124995f0edd0f84b0837549ad1390423bad8e31cf3b','[]','0.4.0');
INSERT INTO "block_schema" VALUES('1cf51b62-6c7e-4810-8f94-5b0e39323848','2026-12-01 03:20:19.191200','2026-12-01 03:20:19.191284','{"title": "KubernetesCredentials", "description": "Credentials block for generating configured Kubernetes API clients.", "type": "object", "properties": {"cluster_config": {"$ref": "#/definitions/KubernetesClusterConfig"}}, "block_type_slug": "kubernetes-credentials", "secret_fields": []}','1233c44d-7e85-4132-8b23-6f94497ce032','sha256:957fa8dca90bd1b5fb9c575ee09e80b454116c0b134287fbc2eff47a72564c3b','[]','0.3.7');
INSERT INTO "block_schema" VALUES('5c97705a-f008-446c-9922-6e05ee0980ad','2026-12-01 03:20:19.226338','2026-12-01 03:20:19.226403','{"title": "ShellOperation", "description": "A block representing a shell operation, containing multiple commands.\n\nFor long-lasting operations, use the trigger method and utilize the block as a\ncontext manager for automatic closure of processes when context is exited.\nIf not, manually call the close method to close processes.\n\nFor short-lasting operations, use the run method. Context is automatically managed\nwith this method.", "type": "object", "properties": {"commands": {"title": "Commands", "description": "A list of commands to execute sequentially.", "type": "array", "items": {"type": "string"}}, "stream_output": {"title": "Stream Output", "description": "Whether to stream output.", "default": true, "type": "boolean"}, "env": {"title": "Environment Variables", "description": "Environment variables to use for the subprocess.", "type": "object", "additionalProperties": {"type": "string"}}, "working_dir": {"title": "Working Directory", "description": "The absolute path to the working directory the command will be executed within.", "format": "directory-path", "type": "string"}, "shell": {"title": "Shell", "description": "The shell to run the command with; if unset, defaults to `powershell` on Windows and `bash` on other platforms.", "type": "string"}, "extension": {"title": "Extension", "description": "The extension to use for the temporary file; if unset, defaults to `.ps1` on Windows and `.sh` on other platforms.", "type": "string"}}, "required": ["commands"], "block_type_slug": "shell-operation", "secret_fields": []}','168f055a-f538-45c6-a057-5e9247eaf648','sha256:9525e2fd40af302916ff7a4c33ec9c0e20d8970b09243ca010d729fac144811d','[]','0.2.2');
INSERT INTO "block_schema" VALUES('90c0f358-8370-4c9e-a2c1-7c99011ea2a7','2026-12-01 03:20:19.244585','2026-12-01 03:20:19.244667','{"title": "SlackCredentials", "description": "Block holding Slack credentials for use in tasks and flows.", "type": "object", "properties": {"token": {"title": "Token", "description": "Bot user OAuth token for the Slack app used to perform actions.", "type": "string", "writeOnly": true, "format": "password"}}, "required": ["token"], "block_type_slug": "slack-credentials", "secret_fields": ["token"]}','032b1658-e47a-47b9-8335-8669a688a658','sha256:f79058d8fcf22ed575f824b27daa68a52fedaa0e40f7a8a542d4ac9cf3ee8317','[]','0.2.2');
INSERT INTO "block_schema" VALUES('3df933c6-5263-473b-b02e-0667d55eec0f','2026-12-01 03:20:19.263834','2026-12-01 03:20:19.263909','{"title": "SnowflakeConnector", "description": "Perform data operations against a Snowflake database.", "type": "object", "properties": {"credentials": {"title": "Credentials", "description": "The credentials to authenticate with Snowflake.", "allOf": [{"$ref": "#/definitions/SnowflakeCredentials"}]}, "database": {"title": "Database", "description": "The name of the default database to use.", "type": "string"}, "warehouse": {"title": "Warehouse", "description": "The name of the default warehouse to use.", "type": "string"}, "schema": {"title": "Schema", "description": "The name of the default schema to use.", "type": "string"}, "fetch_size": {"title": "Fetch Size", "description": "The default number of rows to fetch at a time.", "default": 1, "type": "integer"}, "poll_frequency_s": {"title": "Poll Frequency [seconds]", "description": "The number of seconds between checking query status for long running queries.", "default": 1, "type": "integer"}}, "required": ["credentials", "database", "warehouse", "schema"], "block_type_slug": "snowflake-connector", "secret_fields": ["credentials.password", "credentials.private_key", "credentials.private_key_passphrase", "credentials.token"]}','a5d2aeb4-4f0b-4730-baa3-5f84a9ec296f','sha256:dd0d36d69bbe0d44870fd754f3c00754e37e3f52209590083eaee4c585ce0bd0','[]','0.27.3');
INSERT INTO "block_schema" VALUES('e2e2d340-f934-46dc-b4a5-d9c12b35578f','2026-12-01 03:20:19.299062','2026-12-01 03:20:19.299141','{"title": "SnowflakeCredentials", "description": "Block used to manage authentication with Snowflake.", "type": "object", "properties": {"account": {"title": "Account", "description": "The snowflake account name.", "example": "nh12345.us-east-2.aws", "type": "string"}, "user": {"title": "User", "description": "The user name used to authenticate.", "type": "string"}, "password": {"title": "Password", "description": "The password used to authenticate.", "type": "string", "writeOnly": true, "format": "password"}, "private_key": {"title": "Private Key", "description": "The PEM used to authenticate.", "type": "string", "writeOnly": true, "format": "password"}, "private_key_path": {"title": "Private Key Path", "description": "The path to the private key.", "type": "string", "format": "path"}, "private_key_passphrase": {"title": "Private Key Passphrase", "description": "The password to use for the private key.", "type": "string", "writeOnly": true, "format": "password"}, "authenticator": {"title": "Authenticator", "description": "The type of authenticator to use for initializing connection.", "default": "snowflake", "enum": ["snowflake", "snowflake_jwt", "externalbrowser", "okta_endpoint", "oauth", "username_password_mfa"], "type": "string"}, "token": {"title": "Token", "description": "The OAuth or JWT Token to provide when authenticator is set to `oauth`.", "type": "string", "writeOnly": true, "format": "password"}, "endpoint": {"title": "Endpoint", "description": "The Okta endpoint to use when authenticator is set to `okta_endpoint`.", "type": "string"}, "role": {"title": "Role", "description": "The name of the default role to use.", "type": "string"}, "autocommit": {"title": "Autocommit", "description": "Whether to automatically commit.", "type": "boolean"}}, "required": ["account", "user"], "block_type_slug": "snowflake-credentials", "secret_fields": ["password", "private_key", "private_key_passphrase", "token"]}','799ba8b8-06c3-4006-97a9-1a19b118480c','sha256:b24edfb413527c951cb2a8b4b4c16aec096523f871d941889e29ac2e6e92e036','[]','0.27.3');
INSERT INTO "block_schema" VALUES('55c96bb8-dc39-451e-abd9-09058ac7b087','2026-12-01 03:20:19.318766','2026-12-01 03:20:19.318845','{"title": "DatabaseCredentials", "description": "Block used to manage authentication with a database.", "type": "object", "properties": {"driver": {"title": "Driver", "description": "The driver name to use.", "anyOf": [{"$ref": "#/definitions/AsyncDriver"}, {"$ref": "#/definitions/SyncDriver"}, {"type": "string"}]}, "username": {"title": "Username", "description": "The user name used to authenticate.", "type": "string"}, "password": {"title": "Password", "description": "The password used to authenticate.", "type": "string", "writeOnly": true, "format": "password"}, "database": {"title": "Database", "description": "The name of the database to use.", "type": "string"}, "host": {"title": "Host", "description": "The host address of the database.", "type": "string"}, "port": {"title": "Port", "description": "The port to connect to the database.", "type": "string"}, "query": {"title": "Query", "description": "A dictionary of string keys to string values to be passed to the dialect and/or the DBAPI upon connect. To specify non-string parameters to a Python DBAPI directly, use connect_args.", "type": "object", "additionalProperties": {"type": "string"}}, "url": {"title": "Url", "description": "Manually create and provide a URL to create the engine, this is useful for external dialects, e.g. Snowflake, because some of the params, such as ''warehouse'', is not directly supported in the vanilla `sqlalchemy.engine.URL.create` method; do not provide this alongside with other URL params as it will raise a `ValueError`.", "minLength": 1, "maxLength": 65536, "format": "uri", "type": "string"}, "connect_args": {"title": "Connect Args", "description": "The options which will be passed directly to the DBAPI''s connect() method as additional keyword arguments.", "type": "object"}}, "block_type_slug": "database-credentials", "secret_fields": ["password"], "definitions": {"AsyncDriver": {"title": "AsyncDriver", "description": "Known dialects with their corresponding async drivers.\n\nAttributes:\n    POSTGRESQL_ASYNCPG (Enum): [postgresql+asyncpg](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.asyncpg)\n\n    SQLITE_AIOSQLITE (Enum): [sqlite+aiosqlite](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.aiosqlite)\n\n    MYSQL_ASYNCMY (Enum): [mysql+asyncmy](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.asyncmy)\n    MYSQL_AIOMYSQL (Enum): [mysql+aiomysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.aiomysql)", "enum": ["postgresql+asyncpg", "sqlite+aiosqlite", "mysql+asyncmy", "mysql+aiomysql"]}, "SyncDriver": {"title": "SyncDriver", "description": "Known dialects with their corresponding sync drivers.\n\nAttributes:\n    POSTGRESQL_PSYCOPG2 (Enum): [postgresql+psycopg2](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.psycopg2)\n    POSTGRESQL_PG8000 (Enum): [postgresql+pg8000](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pg8000)\n    POSTGRESQL_PSYCOPG2CFFI (Enum): [postgresql+psycopg2cffi](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.psycopg2cffi)\n    POSTGRESQL_PYPOSTGRESQL (Enum): [postgresql+pypostgresql](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pypostgresql)\n    POSTGRESQL_PYGRESQL (Enum): [postgresql+pygresql](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pygresql)\n\n    MYSQL_MYSQLDB (Enum): [mysql+mysqldb](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.mysqldb)\n    MYSQL_PYMYSQL (Enum): [mysql+pymysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.pymysql)\n    MYSQL_MYSQLCONNECTOR (Enum): [mysql+mysqlconnector](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.mysqlconnector)\n    MYSQL_CYMYSQL (Enum): [mysql+cymysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.cymysql)\n    MYSQL_OURSQL (Enum): [mysql+oursql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.oursql)\n    MYSQL_PYODBC (Enum): [mysql+pyodbc](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.pyodbc)\n\n    SQLITE_PYSQLITE (Enum): [sqlite+pysqlite](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.pysqlite)\n    SQLITE_PYSQLCIPHER (Enum): [sqlite+pysqlcipher](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.pysqlcipher)\n\n    ORACLE_CX_ORACLE (Enum): [oracle+cx_oracle](https://docs.sqlalchemy.org/en/14/dialects/oracle.html#module-sqlalchemy.dialects.oracle.cx_oracle)\n\n    MSSQL_PYODBC (Enum): [mssql+pyodbc](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.pyodbc)\n    MSSQL_MXODBC (Enum): [mssql+mxodbc](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.mxodbc)\n    MSSQL_PYMSSQL (Enum): [mssql+pymssql](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.pymssql)", "enum": ["postgresql+psycopg2", "postgresql+pg8000", "postgresql+psycopg2cffi", "postgresql+pypostgresql", "postgresql+pygresql", "mysql+mysqldb", "mysql+pymysql", "mysql+mysqlconnector", "mysql+cymysql", "mysql+oursql", "mysql+pyodbc", "sqlite+pysqlite", "sqlite+pysqlcipher", "oracle+cx_oracle", "mssql+pyodbc", "mssql+mxodbc", "mssql+pymssql"]}}}','2a6ea45c-042c-40fc-b024-57208903f2a1','sha256:76d1ccbf0ab2038fea77e9689b91a7c8b6398e080e95d9303f65a93a4c03162e','[]','0.4.0');
INSERT INTO "block_schema" VALUES('c20cb7ba-e23b-4480-b90d-fc1416868cd5','2026-12-01 03:20:19.341588','2026-12-01 03:20:19.341661','{"title": "SqlAlchemyConnector", "description": "Block used to manage authentication with a database.\n\nUpon instantiating, an engine is created and maintained for the life of\nthe object until the close method is called.\n\nIt is recommended to use this block as a context manager, which will automatically\nclose the engine and its connections when the context is exited.\n\nIt is also recommended that this block is loaded and consumed within a single task\nor flow because if the block is passed across separate tasks and flows,\nthe state of the block''s connection and cursor could be lost.", "type": "object", "properties": {"connection_info": {"title": "Connection Info", "description": "SQLAlchemy URL to create the engine; either create from components or create from a string.", "anyOf": [{"$ref": "#/definitions/ConnectionComponents"}, {"type": "string", "minLength": 1, "maxLength": 65536, "format": "uri"}]}, "connect_args": {"title": "Additional Connection Arguments", "description": "The options which will be passed directly to the DBAPI''s connect() method as additional keyword arguments.", "type": "object"}, "fetch_size": {"title": "Fetch Size", "description": "The number of rows to fetch at a time.", "default": 1, "type": "integer"}}, "required": ["connection_info"], "block_type_slug": "sqlalchemy-connector", "secret_fields": ["connection_info.password"], "definitions": {"ConnectionComponents": {"title": "ConnectionComponents", "description": "Parameters to use to create a SQLAlchemy engine URL.\n\nAttributes:\n    driver: The driver name to use.\n    database: The name of the database to use.\n    username: The user name used to authenticate.\n    password: The password used to authenticate.\n    host: The host address of the database.\n    port: The port to connect to the database.\n    query: A dictionary of string keys to string values to be passed to the dialect\n        and/or the DBAPI upon connect.", "type": "object", "properties": {"driver": {"title": "Driver", "description": "The driver name to use.", "anyOf": [{"$ref": "#/definitions/AsyncDriver"}, {"$ref": "#/definitions/SyncDriver"}, {"type": "string"}]}, "database": {"title": "Database", "description": "The name of the database to use.", "type": "string"}, "username": {"title": "Username", "description": "The user name used to authenticate.", "type": "string"}, "password": {"title": "Password", "description": "The password used to authenticate.", "type": "string", "writeOnly": true, "format": "password"}, "host": {"title": "Host", "description": "The host address of the database.", "type": "string"}, "port": {"title": "Port", "description": "The port to connect to the database.", "type": "string"}, "query": {"title": "Query", "description": "A dictionary of string keys to string values to be passed to the dialect and/or the DBAPI upon connect. To specify non-string parameters to a Python DBAPI directly, use connect_args.", "type": "object", "additionalProperties": {"type": "string"}}}, "required": ["driver", "database"]}, "AsyncDriver": {"title": "AsyncDriver", "description": "Known dialects with their corresponding async drivers.\n\nAttributes:\n    POSTGRESQL_ASYNCPG (Enum): [postgresql+asyncpg](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.asyncpg)\n\n    SQLITE_AIOSQLITE (Enum): [sqlite+aiosqlite](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.aiosqlite)\n\n    MYSQL_ASYNCMY (Enum): [mysql+asyncmy](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.asyncmy)\n    MYSQL_AIOMYSQL (Enum): [mysql+aiomysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.aiomysql)", "enum": ["postgresql+asyncpg", "sqlite+aiosqlite", "mysql+asyncmy", "mysql+aiomysql"]}, "SyncDriver": {"title": "SyncDriver", "description": "Known dialects with their corresponding sync drivers.\n\nAttributes:\n    POSTGRESQL_PSYCOPG2 (Enum): [postgresql+psycopg2](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.psycopg2)\n    POSTGRESQL_PG8000 (Enum): [postgresql+pg8000](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pg8000)\n    POSTGRESQL_PSYCOPG2CFFI (Enum): [postgresql+psycopg2cffi](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.psycopg2cffi)\n    POSTGRESQL_PYPOSTGRESQL (Enum): [postgresql+pypostgresql](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pypostgresql)\n    POSTGRESQL_PYGRESQL (Enum): [postgresql+pygresql](https://docs.sqlalchemy.org/en/14/dialects/postgresql.html#module-sqlalchemy.dialects.postgresql.pygresql)\n\n    MYSQL_MYSQLDB (Enum): [mysql+mysqldb](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.mysqldb)\n    MYSQL_PYMYSQL (Enum): [mysql+pymysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.pymysql)\n    MYSQL_MYSQLCONNECTOR (Enum): [mysql+mysqlconnector](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.mysqlconnector)\n    MYSQL_CYMYSQL (Enum): [mysql+cymysql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.cymysql)\n    MYSQL_OURSQL (Enum): [mysql+oursql](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.oursql)\n    MYSQL_PYODBC (Enum): [mysql+pyodbc](https://docs.sqlalchemy.org/en/14/dialects/mysql.html#module-sqlalchemy.dialects.mysql.pyodbc)\n\n    SQLITE_PYSQLITE (Enum): [sqlite+pysqlite](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.pysqlite)\n    SQLITE_PYSQLCIPHER (Enum): [sqlite+pysqlcipher](https://docs.sqlalchemy.org/en/14/dialects/sqlite.html#module-sqlalchemy.dialects.sqlite.pysqlcipher)\n\n    ORACLE_CX_ORACLE (Enum): [oracle+cx_oracle](https://docs.sqlalchemy.org/en/14/dialects/oracle.html#module-sqlalchemy.dialects.oracle.cx_oracle)\n\n    MSSQL_PYODBC (Enum): [mssql+pyodbc](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.pyodbc)\n    MSSQL_MXODBC (Enum): [mssql+mxodbc](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.mxodbc)\n    MSSQL_PYMSSQL (Enum): [mssql+pymssql](https://docs.sqlalchemy.org/en/14/dialects/mssql.html#module-sqlalchemy.dialects.mssql.pymssql)", "enum": ["postgresql+psycopg2", "postgresql+pg8000", "postgresql+psycopg2cffi", "postgresql+pypostgresql", "postgresql+pygresql", "mysql+mysqldb", "mysql+pymysql", "mysql+mysqlconnector", "mysql+cymysql", "mysql+oursql", "mysql+pyodbc", "sqlite+pysqlite", "sqlite+pysqlcipher", "oracle+cx_oracle", "mssql+pyodbc", "mssql+mxodbc", "mssql+pymssql"]}}}','10d9a922-9607-4151-b62f-c1a33e77dc62','sha256:01e6c0bdaac125860811b201f5a5e98ffefd5f8a49f1398b6996aec362643acc','[]','0.4.0');
CREATE TABLE block_schema_reference (
	id CHAR(36) DEFAULT (
    (
        lower(hex(randomblob(4))) 
        || '-' 
        || lower(hex(randomblob(2))) 
        || '-4' 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || substr('89ab',abs(random()) % 4 + 1, 1) 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || lower(hex(randomblob(6)))
    )
    ) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	name VARCHAR NOT NULL, 
	parent_block_schema_id CHAR(36) NOT NULL, 
	reference_block_schema_id CHAR(36) NOT NULL, 
	CONSTRAINT pk_block_schema_reference PRIMARY KEY (id), 
	CONSTRAINT fk_block_schema_reference__parent_block_schema_id__block_schema FOREIGN KEY(parent_block_schema_id) REFERENCES block_schema (id) ON DELETE cascade, 
	CONSTRAINT fk_block_schema_reference__reference_block_schema_id__block_schema FOREIGN KEY(reference_block_schema_id) REFERENCES block_schema (id) ON DELETE cascade
);
INSERT INTO "block_schema_reference" VALUES('73b77eef-e34a-4f3f-8edd-4e1b0379f5bc','2026-12-01 03:20:18.124825','2026-12-01 03:20:18.124902','aws_credentials','2ffb47af-9538-49d2-924b-bc623bdbfc8e','03688b1c-05a5-4881-8200-87642bace375');
INSERT INTO "block_schema_reference" VALUES('94343313-789d-4e9f-9949-8eee47e8baf0','2026-12-01 03:20:18.159291','2026-12-01 03:20:18.159363','aws_credentials','8961df7b-3256-4a48-a1d2-54389abf5c0b','03688b1c-05a5-4881-8200-87642bace375');
INSERT INTO "block_schema_reference" VALUES('96a0addd-fe09-48b4-ae8e-81851d72d746','2026-12-01 03:20:18.210321','2026-12-01 03:20:18.210391','credentials','cd2c72ea-0103-45e2-8c17-2891c7c8481c','e275dccf-aeff-4acb-abd7-031fc8c1214a');
INSERT INTO "block_schema_reference" VALUES('7d72412e-a852-4a1c-b188-f1a237cf46f0','2026-12-01 03:20:18.224329','2026-12-01 03:20:18.224398','credentials','cd2c72ea-0103-45e2-8c17-2891c7c8481c','03688b1c-05a5-4881-8200-87642bace375');
INSERT INTO "block_schema_reference" VALUES('6845f7e6-ea82-4f77-b579-8bbda82fd265','2026-12-01 03:20:18.263618','2026-12-01 03:20:18.263686','credentials','70f32e8e-1e55-4cd6-b905-c8b3e651d984','82a0613b-0cb9-499a-92bd-0e3dc750c3f3');
INSERT INTO "block_schema_reference" VALUES('f6e558a0-8030-4b3f-ad6b-d06de4415f07','2026-12-01 03:20:18.392596','2026-12-01 03:20:18.392668','bitbucket_credentials','ee448d90-8827-4f82-b988-25f6f70fec6c','b75048da-845c-4a27-8e4b-5561ba5e12a7');
INSERT INTO "block_schema_reference" VALUES('5f17a7b5-c32f-4b70-8e11-39eaf7358598','2026-12-01 03:20:18.453261','2026-12-01 03:20:18.453336','credentials','2e43987e-53a6-4915-be01-22fa094f3b20','db66273a-1c1c-4968-8df5-20f4ed7a0f70');
INSERT INTO "block_schema_reference" VALUES('0ea952da-3a45-4ff2-9e8c-78090a4df32c','2026-12-01 03:20:18.516827','2026-12-01 03:20:18.516901','credentials','6f8d3e4e-0044-4331-8132-1ef09443c632','1e4b1bab-aa89-4773-8fe1-e16cb99c1ca4');
INSERT INTO "block_schema_reference" VALUES('6c16adc8-ff4c-47c0-a7f0-f0cbd898d068','2026-12-01 03:20:18.542373','2026-12-01 03:20:18.542438','credentials','6f8d3e4e-0044-4331-8132-1ef09443c632','7c517961-b163-4e56-8597-1af93cd84447');
INSERT INTO "block_schema_reference" VALUES('ce5420e3-cf87-4dd7-87d2-36b18a63f36d','2026-12-01 03:20:18.641177','2026-12-01 03:20:18.641254','credentials','295aa5b5-34c1-44db-ad0b-59efd0bc682a','e73dcc03-a2da-4ec1-8fbf-937af5e62d89');
INSERT INTO "block_schema_reference" VALUES('af64522d-9981-4787-ac3a-430ce895d598','2026-12-01 03:20:18.645618','2026-12-01 03:20:18.645684','connector','8fe26388-583c-4071-9e8d-1e0ec9476069','295aa5b5-34c1-44db-ad0b-59efd0bc682a');
INSERT INTO "block_schema_reference" VALUES('fa8fbc70-9bc1-41b3-8147-9a50e90a4252','2026-12-01 03:20:18.649613','2026-12-01 03:20:18.649677','target_configs','86c56aa0-5805-475c-bbfc-0c4612ecbf46','8fe26388-583c-4071-9e8d-1e0ec9476069');
INSERT INTO "block_schema_reference" VALUES('2a0cb74d-ddff-4907-a692-8b2d502069d1','2026-12-01 03:20:18.665560','2026-12-01 03:20:18.665634','target_configs','86c56aa0-5805-475c-bbfc-0c4612ecbf46','2e43987e-53a6-4915-be01-22fa094f3b20');
INSERT INTO "block_schema_reference" VALUES('cd5e621d-2abc-406e-acca-85c788a09acb','2026-12-01 03:20:18.681264','2026-12-01 03:20:18.681342','target_configs','86c56aa0-5805-475c-bbfc-0c4612ecbf46','6f8d3e4e-0044-4331-8132-1ef09443c632');
INSERT INTO "block_schema_reference" VALUES('8f100bd7-8aec-4b51-9a8b-7c8b1f95ab93','2026-12-01 03:20:18.710184','2026-12-01 03:20:18.710247','target_configs','86c56aa0-5805-475c-bbfc-0c4612ecbf46','16bdfb42-f0ee-4d0d-b49b-2f1622b73b0d');
INSERT INTO "block_schema_reference" VALUES('d3c2f217-c28a-4c3a-90c5-fa28418012a2','2026-12-01 03:20:18.724435','2026-12-01 03:20:18.724535','global_configs','86c56aa0-5805-475c-bbfc-0c4612ecbf46','cabdffa4-9b4e-4322-92eb-a087262ac3bc');
INSERT INTO "block_schema_reference" VALUES('13b7ad59-2dfb-4e21-aab5-e4f36fd2b111','2026-12-01 03:20:18.786193','2026-12-01 03:20:18.786267','credentials','acb3ee14-bc84-4ad4-ad87-f61fbe860dbd','8e7c7a41-712f-4eef-80c6-9f6b00cc6f1c');
INSERT INTO "block_schema_reference" VALUES('4a68d92e-9fe1-4bb8-abaf-1281fc2f0c63','2026-12-01 03:20:18.790902','2026-12-01 03:20:18.790965','connector','9e5888f8-60c2-4df2-943c-e182a839fff3','acb3ee14-bc84-4ad4-ad87-f61fbe860dbd');
INSERT INTO "block_schema_reference" VALUES('652f1da5-7a21-4e37-9fff-797584afa440','2026-12-01 03:20:18.874547','2026-12-01 03:20:18.874620','dbt_cli_profile','6033bfe7-901c-4f36-b37e-942d77a1b522','86c56aa0-5805-475c-bbfc-0c4612ecbf46');
INSERT INTO "block_schema_reference" VALUES('362d1913-0d89-4d20-9820-a271e47921da','2026-12-01 03:20:18.966225','2026-12-01 03:20:18.966296','gcp_credentials','081f0d5e-791a-4079-b655-a8632f543c23','db66273a-1c1c-4968-8df5-20f4ed7a0f70');
INSERT INTO "block_schema_reference" VALUES('7c17e47b-defc-4dde-8e6e-4f664dd3db7a','2026-12-01 03:20:19.016293','2026-12-01 03:20:19.016368','gcp_credentials','4a38d0e0-31fa-474d-8fd9-7a78f18b82e5','cba70a8f-37bb-4090-8010-dcdda3b03d8d');
INSERT INTO "block_schema_reference" VALUES('d0a5b1d2-6b7d-48ca-95f0-99521ad6c17d','2026-12-01 03:20:19.050345','2026-12-01 03:20:19.050416','gcp_credentials','f17d78da-cfc8-4df8-9282-334f09ab1b20','cba70a8f-37bb-4090-8010-dcdda3b03d8d');
INSERT INTO "block_schema_reference" VALUES('6703c06b-ca97-4830-b5e8-524276bf8c5a','2026-12-01 03:20:19.105911','2026-12-01 03:20:19.105992','credentials','16dddbfb-f7a7-4a3b-897c-70b379f276cc','fd35aa4c-0cec-4815-8ddc-d493cdfeea01');
INSERT INTO "block_schema_reference" VALUES('09b09961-dcc2-4a9e-b7c9-500caad1b096','2026-12-01 03:20:19.157163','2026-12-01 03:20:19.157249','credentials','8d33927f-5bbc-4086-bb98-4d23276b69e5','f14bd0ab-c7ab-4cad-8480-a99526718703');
INSERT INTO "block_schema_reference" VALUES('eea8fa7f-dbcb-4e2e-a749-1cf2a5904a7a','2026-12-01 03:20:19.209876','2026-12-01 03:20:19.209960','cluster_config','1cf51b62-6c7e-4810-8f94-5b0e39323848','c1a762b4-be50-46e4-8d4d-73e01e613cee');
INSERT INTO "block_schema_reference" VALUES('4c956152-d051-4075-92a1-b12612df4d3d','2026-12-01 03:20:19.282471','2026-12-01 03:20:19.282553','credentials','3df933c6-5263-473b-b02e-0667d55eec0f','8e7c7a41-712f-4eef-80c6-9f6b00cc6f1c');
CREATE TABLE "block_type" (
	id CHAR(36) DEFAULT ((
        lower(hex(randomblob(4))) 
        || '-' 
        || lower(hex(randomblob(2))) 
        || '-4' 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || substr('89ab',abs(random()) % 4 + 1, 1) 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || lower(hex(randomblob(6)))
    )) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	name VARCHAR NOT NULL, 
	logo_url VARCHAR, 
	documentation_url VARCHAR, 
	description VARCHAR, 
	code_example VARCHAR, 
	is_protected BOOLEAN DEFAULT '0' NOT NULL, 
	slug VARCHAR NOT NULL, 
	CONSTRAINT pk_block_type PRIMARY KEY (id)
);
INSERT INTO "block_type" VALUES('d2356d63-531e-4ee2-9f83-3bdab3c679d9','2026-12-01 03:20:17.104562','2026-12-01 03:20:17.653000','Webhook','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/webhook.png','https://www.prefect.io/docs/latest/automate/events/webhook-triggers','Block that enables calling webhooks.','```python
from prefect.blocks.webhook import Webhook

webhook_block = Webhook.load("BLOCK_NAME")
```',1,'webhook');
INSERT INTO "block_type" VALUES('856d6866-2bde-457c-aa83-f7b4b87d7524','2026-12-01 03:20:17.284377','2026-12-01 03:20:17.629000','Secret','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/secret.png','https://www.prefect.io/docs/latest/develop/blocks','A block that represents a secret value. The value stored in this block will be obfuscated when this block is viewed or edited in the UI.','```python
from prefect.blocks.system import Secret

Secret(value="sk-1234567890").save("BLOCK_NAME", overwrite=True)

secret_block = Secret.load("BLOCK_NAME")

# Access the stored secret
secret_block.get()
```',1,'secret');
INSERT INTO "block_type" VALUES('c8b90bc2-19a9-4ba5-ba20-081eef9d5095','2026-12-01 03:20:17.309983','2026-12-01 03:20:17.678000','Local File System','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/filesystem.png','https://www.prefect.io/docs/latest/develop/results#specifying-a-default-filesystem','Store data as a file on a local file system.','Load stored local file system config:
```python
from prefect.filesystems import LocalFileSystem

local_file_system_block = LocalFileSystem.load("BLOCK_NAME")
```',1,'local-file-system');
INSERT INTO "block_type" VALUES('04b09b6a-4e62-42c5-8727-afb60d54af93','2026-12-01 03:20:17.334379','2026-12-01 03:20:17.334426','Slack Webhook','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/slack.png','https://www.prefect.io/docs/latest/automate/events/automations-triggers#sending-notifications-with-automations','Enables sending notifications via a provided Slack webhook.

Supports both standard Slack webhooks (hooks.slack.com) and Slack GovCloud
webhooks (hooks.slack-gov.com).','Load a saved Slack webhook and send a message:
```python
from prefect.blocks.notifications import SlackWebhook

slack_webhook_block = SlackWebhook.load("BLOCK_NAME")
slack_webhook_block.notify("Hello from Prefect!")
```',0,'slack-webhook');
INSERT INTO "block_type" VALUES('9df4a795-8ab0-4a67-8d50-661dd4351686','2026-12-01 03:20:17.366007','2026-12-01 03:20:17.366062','Microsoft Teams Webhook','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/microsoft-teams.png','https://www.prefect.io/docs/latest/automate/events/automations-triggers#sending-notifications-with-automations','Enables sending notifications via a provided Microsoft Teams webhook.','Load a saved Teams webhook and send a message:
```python
from prefect.blocks.notifications import MicrosoftTeamsWebhook
teams_webhook_block = MicrosoftTeamsWebhook.load("BLOCK_NAME")
teams_webhook_block.notify("Hello from Prefect!")
```',0,'ms-teams-webhook');
INSERT INTO "block_type" VALUES('a591fbfe-40b8-4e64-85e9-0c7de3a5b7bb','2026-12-01 03:20:17.396281','2026-12-01 03:20:17.396333','Pager Duty Webhook','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/pagerduty.png','https://www.prefect.io/docs/latest/automate/events/automations-triggers#sending-notifications-with-automations','Enables sending notifications via a provided PagerDuty webhook.','Load a saved PagerDuty webhook and send a message:
```python
from prefect.blocks.notifications import PagerDutyWebHook
pagerduty_webhook_block = PagerDutyWebHook.load("BLOCK_NAME")
pagerduty_webhook_block.notify("Hello from Prefect!")
```',0,'pager-duty-webhook');
INSERT INTO "block_type" VALUES('64474270-0481-4501-a0c8-72eb8a0cabf3','2026-12-01 03:20:17.428947','2026-12-01 03:20:17.428989','Twilio SMS','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/twilio.png','https://www.prefect.io/docs/latest/automate/events/automations-triggers#sending-notifications-with-automations','Enables sending notifications via Twilio SMS.','Load a saved `TwilioSMS` block and send a message:
```python
from prefect.blocks.notifications import TwilioSMS
twilio_webhook_block = TwilioSMS.load("BLOCK_NAME")
twilio_webhook_block.notify("Hello from Prefect!")
```',0,'twilio-sms');
INSERT INTO "block_type" VALUES('36ec6648-7096-4fd6-bd45-dd1851286e49','2026-12-01 03:20:17.458721','2026-12-01 03:20:17.458765','Opsgenie Webhook','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/opsgenie.png','https://www.prefect.io/docs/latest/automate/events/automations-triggers#sending-notifications-with-automations','Enables sending notifications via a provided Opsgenie webhook.','Load a saved Opsgenie webhook and send a message:
```python
from prefect.blocks.notifications import OpsgenieWebhook
opsgenie_webhook_block = OpsgenieWebhook.load("BLOCK_NAME")
opsgenie_webhook_block.notify("Hello from Prefect!")
```',0,'opsgenie-webhook');
INSERT INTO "block_type" VALUES('5d57c484-4f09-446b-8952-2fb225161090','2026-12-01 03:20:17.495629','2026-12-01 03:20:17.495660','Mattermost Webhook','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/mattermost.png','https://www.prefect.io/docs/latest/automate/events/automations-triggers#sending-notifications-with-automations','Enables sending notifications via a provided Mattermost webhook.','Load a saved Mattermost webhook and send a message:
```python
from prefect.blocks.notifications import MattermostWebhook

mattermost_webhook_block = MattermostWebhook.load("BLOCK_NAME")

mattermost_webhook_block.notify("Hello from Prefect!")
```',0,'mattermost-webhook');
INSERT INTO "block_type" VALUES('04ef50fe-53f9-4a6e-aea7-5978a94c3a23','2026-12-01 03:20:17.529316','2026-12-01 03:20:17.529366','Discord Webhook','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/discord.png','https://www.prefect.io/docs/latest/automate/events/automations-triggers#sending-notifications-with-automations','Enables sending notifications via a provided Discord webhook.','Load a saved Discord webhook and send a message:
```python
from prefect.blocks.notifications import DiscordWebhook

discord_webhook_block = DiscordWebhook.load("BLOCK_NAME")

discord_webhook_block.notify("Hello from Prefect!")
```',0,'discord-webhook');
INSERT INTO "block_type" VALUES('ab19ae8e-25d5-41af-8dad-45991821eeda','2026-12-01 03:20:17.566038','2026-12-01 03:20:17.566078','Custom Webhook','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/webhook.png','https://www.prefect.io/docs/latest/automate/events/automations-triggers#sending-notifications-with-automations','Enables sending notifications via any custom webhook.

All nested string param contains `{{key}}` will be substituted with value from context/secrets.

Context values include: `subject`, `body` and `name`.','Load a saved custom webhook and send a message:
```python
from prefect.blocks.notifications import CustomWebhookNotificationBlock

custom_webhook_block = CustomWebhookNotificationBlock.load("BLOCK_NAME")

custom_webhook_block.notify("Hello from Prefect!")
```',0,'custom-webhook');
INSERT INTO "block_type" VALUES('660940f9-d1a8-4ddc-bed0-678927f24217','2026-12-01 03:20:17.599422','2026-12-01 03:20:17.599458','Sendgrid Email','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/email.png','https://www.prefect.io/docs/latest/automate/events/automations-triggers#sending-notifications-with-automations','Enables sending notifications via Sendgrid email service.','Load a saved Sendgrid and send a email message:
```python
from prefect.blocks.notifications import SendgridEmail

sendgrid_block = SendgridEmail.load("BLOCK_NAME")

sendgrid_block.notify("Hello from Prefect!")
```',0,'sendgrid-email');
INSERT INTO "block_type" VALUES('b5e514c2-3be2-4af8-ba10-82ed1d28edc6','2026-12-01 03:20:17.699316','2026-12-01 03:20:17.699368','Remote File System','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/filesystem.png','https://www.prefect.io/docs/latest/develop/results#specifying-a-default-filesystem','Store data as a file on a remote file system.

Supports any remote file system supported by `fsspec`. The file system is specified
using a protocol. For example, "s3://my-bucket/my-folder/" will use S3.','Load stored remote file system config:
```python
from prefect.filesystems import RemoteFileSystem

remote_file_system_block = RemoteFileSystem.load("BLOCK_NAME")
```',0,'remote-file-system');
INSERT INTO "block_type" VALUES('b00181a1-959a-4d9d-857c-f1c5326920ee','2026-12-01 03:20:17.729160','2026-12-01 03:20:17.729200','SMB','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/smb.png','https://www.prefect.io/docs/latest/develop/results#specifying-a-default-filesystem','Store data as a file on a SMB share.','Load stored SMB config:

```python
from prefect.filesystems import SMB
smb_block = SMB.load("BLOCK_NAME")
```',0,'smb');
INSERT INTO "block_type" VALUES('d3590612-2b60-46dc-943a-d4dfec7b7658','2026-12-01 03:20:17.763256','2026-12-01 03:20:17.763305','Redis Database','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/redis.png',NULL,'Block used to manage authentication with a Redis database','Create a new block from hostname, username and password:
    ```python
    from prefect_redis import RedisDatabase

    block = RedisDatabase(
        host="myredishost.com", username="redis", password="SuperSecret")
    block.save("BLOCK_NAME")
    ```

Create a new block from a connection string
    ```python
    from prefect_redis import RedisBlock
    block = RedisBlock.from_url(""redis://redis:SuperSecret@myredishost.com:6379")
    block.save("BLOCK_NAME")
    ```

Get Redis client in order to interact directly with Redis
    ```python
    from prefect_redis import RedisBlock
    block = RedisBlock.load("BLOCK_NAME")
    redis_client = block.get_client()
    ```',0,'redis-database');
INSERT INTO "block_type" VALUES('2d408cb9-ab6a-4488-880a-8892c74c56cb','2026-12-01 03:20:17.808812','2026-12-01 03:20:17.808869','AWS Credentials','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/aws.png','https://prefecthq.github.io/prefect-aws/credentials/#prefect_aws.credentials.AwsCredentials','Block used to manage authentication with AWS. AWS authentication is
handled via the `boto3` module. Refer to the
[boto3 docs](https://boto3.amazonaws.com/v1/documentation/api/latest/guide/credentials.html)
for more info about the possible credential configurations. This block is part of the prefect-aws collection. Install prefect-aws with `pip install prefect-aws` to use this block.','Load stored AWS credentials:
```python
from prefect_aws import AwsCredentials

aws_credentials_block = AwsCredentials.load("BLOCK_NAME")
```',0,'aws-credentials');
INSERT INTO "block_type" VALUES('ee68a6f5-b93f-457b-8b22-715fac547ab1','2026-12-01 03:20:17.816161','2026-12-01 03:20:17.816208','AWS Secret','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/aws.png','https://prefecthq.github.io/prefect-aws/secrets_manager/#prefect_aws.secrets_manager.AwsSecret','Manages a secret in AWS''s Secrets Manager. This block is part of the prefect-aws collection. Install prefect-aws with `pip install prefect-aws` to use this block.','```python
from prefect_aws.secrets_manager import AwsSecret

aws_secret_block = AwsSecret.load("BLOCK_NAME")
```',0,'aws-secret');
INSERT INTO "block_type" VALUES('819c76e3-3411-456d-b314-5c3224c7f753','2026-12-01 03:20:17.823369','2026-12-01 03:20:17.823423','Lambda Function','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/aws.png','https://prefecthq.github.io/prefect-aws/s3/#prefect_aws.lambda_function.LambdaFunction','Invoke a Lambda function. This block is part of the prefect-aws
collection. Install prefect-aws with `pip install prefect-aws` to use this
block. This block is part of the prefect-aws collection. Install prefect-aws with `pip install prefect-aws` to use this block.','```python
from prefect_aws.lambda_function import LambdaFunction

lambda_function_block = LambdaFunction.load("BLOCK_NAME")
```',0,'lambda-function');
INSERT INTO "block_type" VALUES('f0190ce4-9082-4593-8a81-cfe3bf74ff57','2026-12-01 03:20:17.830743','2026-12-01 03:20:17.830788','MinIO Credentials','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/minio.png','https://prefecthq.github.io/prefect-aws/credentials/#prefect_aws.credentials.MinIOCredentials','Block used to manage authentication with MinIO. Refer to the MinIO docs: https://docs.min.io/docs/minio-server-configuration-guide.html for more info about the possible credential configurations. This block is part of the prefect-aws collection. Install prefect-aws with `pip install prefect-aws` to use this block.','Load stored MinIO credentials:
```python
from prefect_aws import MinIOCredentials

minio_credentials_block = MinIOCredentials.load("BLOCK_NAME")
```',0,'minio-credentials');
INSERT INTO "block_type" VALUES('89df37b4-e651-4ec2-8ea9-2f27fdde2340','2026-12-01 03:20:17.837552','2026-12-01 03:20:17.837599','S3 Bucket','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/aws.png','https://prefecthq.github.io/prefect-aws/s3/#prefect_aws.s3.S3Bucket','Block used to store data using AWS S3 or S3-compatible object storage like MinIO. This block is part of the prefect-aws collection. Install prefect-aws with `pip install prefect-aws` to use this block.','```python
from prefect_aws.s3 import S3Bucket

s3_bucket_block = S3Bucket.load("BLOCK_NAME")
```',0,'s3-bucket');
INSERT INTO "block_type" VALUES('491f603c-0a30-4224-a106-e9a4f96e37f9','2026-12-01 03:20:17.844244','2026-12-01 03:20:17.844288','Azure Blob Storage Container','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/microsoft-azure.png','https://prefecthq.github.io/prefect-azure/blob_storage/#prefect_azure.blob_storabe.AzureBlobStorageContainer','Represents a container in Azure Blob Storage.

This class provides methods for downloading and uploading files and folders
to and from the Azure Blob Storage container. This block is part of the prefect-azure collection. Install prefect-azure with `pip install prefect-azure` to use this block.','```python
from prefect_azure.blob_storage import AzureBlobStorageContainer

azure_blob_storage_container_block = AzureBlobStorageContainer.load("BLOCK_NAME")
```',0,'azure-blob-storage-container');
INSERT INTO "block_type" VALUES('2252ba9d-9cbd-4bb2-80aa-f75b26e19c87','2026-12-01 03:20:17.850500','2026-12-01 03:20:17.850549','Azure Blob Storage Credentials','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/microsoft-azure.png','https://prefecthq.github.io/prefect-azure/credentials/#prefect_azure.credentials.AzureBlobStorageCredentials','Stores credentials for authenticating with Azure Blob Storage. This block is part of the prefect-azure collection. Install prefect-azure with `pip install prefect-azure` to use this block.','Load stored Azure Blob Storage credentials and retrieve a blob service client:
```python
from prefect_azure import AzureBlobStorageCredentials

azure_credentials_block = AzureBlobStorageCredentials.load("BLOCK_NAME")

blob_service_client = azure_credentials_block.get_blob_client()
```',0,'azure-blob-storage-credentials');
INSERT INTO "block_type" VALUES('4ef54a73-f25c-4522-aea2-efe13074200d','2026-12-01 03:20:17.857509','2026-12-01 03:20:17.857552','Azure Container Instance Credentials','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/microsoft-azure.png','https://prefecthq.github.io/prefect-azure/credentials/#prefect_azure.credentials.AzureContainerInstanceCredentials','Block used to manage Azure Container Instances authentication. Stores Azure Service
Principal authentication data. This block is part of the prefect-azure collection. Install prefect-azure with `pip install prefect-azure` to use this block.','```python
from prefect_azure.credentials import AzureContainerInstanceCredentials

azure_container_instance_credentials_block = AzureContainerInstanceCredentials.load("BLOCK_NAME")
```',0,'azure-container-instance-credentials');
INSERT INTO "block_type" VALUES('0ac6f192-a316-4558-a40f-a92aa333f917','2026-12-01 03:20:17.864171','2026-12-01 03:20:17.864215','Azure Cosmos DB Credentials','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/microsoft-azure.png','https://prefecthq.github.io/prefect-azure/credentials/#prefect_azure.credentials.AzureCosmosDbCredentials','Block used to manage Cosmos DB authentication with Azure.
Azure authentication is handled via the `azure` module through
a connection string. This block is part of the prefect-azure collection. Install prefect-azure with `pip install prefect-azure` to use this block.','Load stored Azure Cosmos DB credentials:
```python
from prefect_azure import AzureCosmosDbCredentials
azure_credentials_block = AzureCosmosDbCredentials.load("BLOCK_NAME")
```',0,'azure-cosmos-db-credentials');
INSERT INTO "block_type" VALUES('cff8d1ea-0a3b-40a3-84f8-66869ba9036f','2026-12-01 03:20:17.871316','2026-12-01 03:20:17.871366','AzureML Credentials','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/microsoft-azure.png','https://prefecthq.github.io/prefect-azure/credentials/#prefect_azure.credentials.AzureMlCredentials','Block used to manage authentication with AzureML. Azure authentication is
handled via the `azure` module. This block is part of the prefect-azure collection. Install prefect-azure with `pip install prefect-azure` to use this block.','Load stored AzureML credentials:
```python
from prefect_azure import AzureMlCredentials
azure_ml_credentials_block = AzureMlCredentials.load("BLOCK_NAME")
```',0,'azureml-credentials');
INSERT INTO "block_type" VALUES('4968b7a4-b500-4e0d-8296-73d972f06ba6','2026-12-01 03:20:17.878070','2026-12-01 03:20:17.878112','BitBucket Credentials','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/bitbucket.png',NULL,'Store BitBucket credentials to interact with private BitBucket repositories. This block is part of the prefect-bitbucket collection. Install prefect-bitbucket with `pip install prefect-bitbucket` to use this block.','Load stored BitBucket credentials:
```python
from prefect_bitbucket import BitBucketCredentials
bitbucket_credentials_block = BitBucketCredentials.load("BLOCK_NAME")
```',0,'bitbucket-credentials');
INSERT INTO "block_type" VALUES('12c6015c-be51-4e98-a91b-cb626c213aa7','2026-12-01 03:20:17.884445','2026-12-01 03:20:17.884516','BitBucket Repository','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/bitbucket.png',NULL,'Interact with files stored in BitBucket repositories. This block is part of the prefect-bitbucket collection. Install prefect-bitbucket with `pip install prefect-bitbucket` to use this block.','```python
from prefect_bitbucket.repository import BitBucketRepository

bitbucket_repository_block = BitBucketRepository.load("BLOCK_NAME")
```',0,'bitbucket-repository');
INSERT INTO "block_type" VALUES('d1070b21-ec0a-4911-be81-aa5eafafcbcc','2026-12-01 03:20:17.890638','2026-12-01 03:20:17.890675','Databricks Credentials','https://images.ctfassets.net/gm98wzqotmnx/5GTHI1PH2dTiantfps6Fnc/1c750fab7f4c14ea1b93a62b9fea6a94/databricks_logo_icon_170295.png?h=250','https://prefecthq.github.io/prefect-databricks/credentials/#prefect_databricks.credentials.DatabricksCredentials','Block used to manage Databricks authentication. This block is part of the prefect-databricks collection. Install prefect-databricks with `pip install prefect-databricks` to use this block.','Load stored Databricks credentials:
```python
from prefect_databricks import DatabricksCredentials
databricks_credentials_block = DatabricksCredentials.load("BLOCK_NAME")
```',0,'databricks-credentials');
INSERT INTO "block_type" VALUES('f08d2f57-fb6b-4a2c-a291-641c38dde86b','2026-12-01 03:20:17.896138','2026-12-01 03:20:17.896162','dbt CLI BigQuery Target Configs','https://images.ctfassets.net/gm98wzqotmnx/5zE9lxfzBHjw3tnEup4wWL/9a001902ed43a84c6c96d23b24622e19/dbt-bit_tm.png?h=250','https://prefecthq.github.io/prefect-dbt/cli/configs/bigquery/#prefect_dbt.cli.configs.bigquery.BigQueryTargetConfigs','dbt CLI target configs containing credentials and settings, specific to BigQuery. This block is part of the prefect-dbt collection. Install prefect-dbt with `pip install prefect-dbt` to use this block.','Load stored BigQueryTargetConfigs.
```python
from prefect_dbt.cli.configs import BigQueryTargetConfigs

bigquery_target_configs = BigQueryTargetConfigs.load("BLOCK_NAME")
```

Instantiate BigQueryTargetConfigs.
```python
from prefect_dbt.cli.configs import BigQueryTargetConfigs
from prefect_gcp.credentials import GcpCredentials

credentials = GcpCredentials.load("BLOCK-NAME-PLACEHOLDER")
target_configs = BigQueryTargetConfigs(
    schema="schema",  # also known as dataset
    credentials=credentials,
)
```',0,'dbt-cli-bigquery-target-configs');
INSERT INTO "block_type" VALUES('3fe040bb-2dd4-4d70-9adb-841614033e66','2026-12-01 03:20:17.902123','2026-12-01 03:20:17.902164','dbt CLI Global Configs','https://images.ctfassets.net/gm98wzqotmnx/5zE9lxfzBHjw3tnEup4wWL/9a001902ed43a84c6c96d23b24622e19/dbt-bit_tm.png?h=250','https://prefecthq.github.io/prefect-dbt/cli/configs/base/#prefect_dbt.cli.configs.base.GlobalConfigs','Global configs control things like the visual output
of logs, the manner in which dbt parses your project,
and what to do when dbt finds a version mismatch
or a failing model. Docs can be found [here](
https://docs.getdbt.com/reference/global-configs). This block is part of the prefect-dbt collection. Install prefect-dbt with `pip install prefect-dbt` to use this block.','Load stored GlobalConfigs:
```python
from prefect_dbt.cli.configs import GlobalConfigs

dbt_cli_global_configs = GlobalConfigs.load("BLOCK_NAME")
```',0,'dbt-cli-global-configs');
INSERT INTO "block_type" VALUES('7ec90d9b-8875-4cf0-ad7c-db096ad9a59e','2026-12-01 03:20:17.908371','2026-12-01 03:20:17.908409','dbt CLI Postgres Target Configs','https://images.ctfassets.net/gm98wzqotmnx/5zE9lxfzBHjw3tnEup4wWL/9a001902ed43a84c6c96d23b24622e19/dbt-bit_tm.png?h=250','https://prefecthq.github.io/prefect-dbt/cli/configs/postgres/#prefect_dbt.cli.configs.postgres.PostgresTargetConfigs','dbt CLI target configs containing credentials and settings specific to Postgres. This block is part of the prefect-dbt collection. Install prefect-dbt with `pip install prefect-dbt` to use this block.','Load stored PostgresTargetConfigs:
```python
from prefect_dbt.cli.configs import PostgresTargetConfigs

postgres_target_configs = PostgresTargetConfigs.load("BLOCK_NAME")
```

Instantiate PostgresTargetConfigs with DatabaseCredentials.
```python
from prefect_dbt.cli.configs import PostgresTargetConfigs
from prefect_sqlalchemy import DatabaseCredentials, SyncDriver

credentials = DatabaseCredentials(
    driver=SyncDriver.POSTGRESQL_PSYCOPG2,
    username="prefect",
    password="prefect_password",
    database="postgres",
    host="host",
    port=8080
)
target_configs = PostgresTargetConfigs(credentials=credentials, schema="schema")
```',0,'dbt-cli-postgres-target-configs');
INSERT INTO "block_type" VALUES('1efdb0c9-e872-4a1f-997c-c8d90af38c21','2026-12-01 03:20:17.914497','2026-12-01 03:20:17.914533','dbt CLI Profile','https://images.ctfassets.net/gm98wzqotmnx/5zE9lxfzBHjw3tnEup4wWL/9a001902ed43a84c6c96d23b24622e19/dbt-bit_tm.png?h=250','https://prefecthq.github.io/prefect-dbt/cli/credentials/#prefect_dbt.cli.credentials.DbtCliProfile','Profile for use across dbt CLI tasks and flows. This block is part of the prefect-dbt collection. Install prefect-dbt with `pip install prefect-dbt` to use this block.','Load stored dbt CLI profile:
```python
from prefect_dbt.cli import DbtCliProfile
dbt_cli_profile = DbtCliProfile.load("BLOCK_NAME").get_profile()
```

Get a dbt Snowflake profile from DbtCliProfile by using SnowflakeTargetConfigs:
```python
from prefect_dbt.cli import DbtCliProfile
from prefect_dbt.cli.configs import SnowflakeTargetConfigs
from prefect_snowflake.credentials import SnowflakeCredentials
from prefect_snowflake.database import SnowflakeConnector

credentials = SnowflakeCredentials(
    user="user",
    password="password",
    account="account.region.aws",
    role="role",
)
connector = SnowflakeConnector(
    schema="public",
    database="database",
    warehouse="warehouse",
    credentials=credentials,
)
target_configs = SnowflakeTargetConfigs(
    connector=connector
)
dbt_cli_profile = DbtCliProfile(
    name="jaffle_shop",
    target="dev",
    target_configs=target_configs,
)
profile = dbt_cli_profile.get_profile()
```

Get a dbt Redshift profile from DbtCliProfile by using generic TargetConfigs:
```python
from prefect_dbt.cli import DbtCliProfile
from prefect_dbt.cli.configs import GlobalConfigs, TargetConfigs

target_configs_extras = dict(
    host="hostname.region.redshift.amazonaws.com",
    user="username",
    password="password1",
    port=5439,
    dbname="analytics",
)
target_configs = TargetConfigs(
    type="redshift",
    schema="schema",
    threads=4,
    extras=target_configs_extras
)
dbt_cli_profile = DbtCliProfile(
    name="jaffle_shop",
    target="dev",
    target_configs=target_configs,
)
profile = dbt_cli_profile.get_profile()
```',0,'dbt-cli-profile');
INSERT INTO "block_type" VALUES('eeafab7b-d729-4457-aaf8-0767fbc70073','2026-12-01 03:20:17.920429','2026-12-01 03:20:17.920498','dbt CLI Snowflake Target Configs','https://images.ctfassets.net/gm98wzqotmnx/5zE9lxfzBHjw3tnEup4wWL/9a001902ed43a84c6c96d23b24622e19/dbt-bit_tm.png?h=250','https://prefecthq.github.io/prefect-dbt/cli/configs/snowflake/#prefect_dbt.cli.configs.snowflake.SnowflakeTargetConfigs','Target configs contain credentials and
settings, specific to Snowflake.
To find valid keys, head to the [Snowflake Profile](
https://docs.getdbt.com/reference/warehouse-profiles/snowflake-profile)
page. This block is part of the prefect-dbt collection. Install prefect-dbt with `pip install prefect-dbt` to use this block.','Load stored SnowflakeTargetConfigs:
```python
from prefect_dbt.cli.configs import SnowflakeTargetConfigs

snowflake_target_configs = SnowflakeTargetConfigs.load("BLOCK_NAME")
```

Instantiate SnowflakeTargetConfigs.
```python
from prefect_dbt.cli.configs import SnowflakeTargetConfigs
from prefect_snowflake.credentials import SnowflakeCredentials
from prefect_snowflake.database import SnowflakeConnector

credentials = SnowflakeCredentials(
    user="user",
    password="password",
    account="account.region.aws",
    role="role",
)
connector = SnowflakeConnector(
    schema="public",
    database="database",
    warehouse="warehouse",
    credentials=credentials,
)
target_configs = SnowflakeTargetConfigs(
    connector=connector,
    extras={"retry_on_database_errors": True},
)
```',0,'dbt-cli-snowflake-target-configs');
INSERT INTO "block_type" VALUES('d55cc565-b133-4af9-ae7a-9aa5dc7b1ce3','2026-12-01 03:20:17.926456','2026-12-01 03:20:17.926518','dbt CLI Target Configs','https://images.ctfassets.net/gm98wzqotmnx/5zE9lxfzBHjw3tnEup4wWL/9a001902ed43a84c6c96d23b24622e19/dbt-bit_tm.png?h=250','https://prefecthq.github.io/prefect-dbt/cli/configs/base/#prefect_dbt.cli.configs.base.TargetConfigs','Target configs contain credentials and
settings, specific to the warehouse you''re connecting to.
To find valid keys, head to the [Available adapters](
https://docs.getdbt.com/docs/available-adapters) page and
click the desired adapter''s "Profile Setup" hyperlink. This block is part of the prefect-dbt collection. Install prefect-dbt with `pip install prefect-dbt` to use this block.','Load stored TargetConfigs:
```python
from prefect_dbt.cli.configs import TargetConfigs

dbt_cli_target_configs = TargetConfigs.load("BLOCK_NAME")
```',0,'dbt-cli-target-configs');
INSERT INTO "block_type" VALUES('f811534c-2956-45e7-a11f-24c8ce2ce1db','2026-12-01 03:20:17.932711','2026-12-01 03:20:17.932752','dbt Cloud Credentials','https://images.ctfassets.net/gm98wzqotmnx/5zE9lxfzBHjw3tnEup4wWL/9a001902ed43a84c6c96d23b24622e19/dbt-bit_tm.png?h=250','https://prefecthq.github.io/prefect-dbt/cloud/credentials/#prefect_dbt.cloud.credentials.DbtCloudCredentials','Credentials block for credential use across dbt Cloud tasks and flows. This block is part of the prefect-dbt collection. Install prefect-dbt with `pip install prefect-dbt` to use this block.','Load stored dbt Cloud credentials:
```python
from prefect_dbt.cloud import DbtCloudCredentials

dbt_cloud_credentials = DbtCloudCredentials.load("BLOCK_NAME")
```

Use DbtCloudCredentials instance to trigger a job run:
```python
from prefect_dbt.cloud import DbtCloudCredentials

credentials = DbtCloudCredentials(api_key="my_api_key", account_id=123456789)

async with dbt_cloud_credentials.get_administrative_client() as client:
    client.trigger_job_run(job_id=1)
```

Load saved dbt Cloud credentials within a flow:
```python
from prefect import flow

from prefect_dbt.cloud import DbtCloudCredentials
from prefect_dbt.cloud.jobs import trigger_dbt_cloud_job_run


@flow
def trigger_dbt_cloud_job_run_flow():
    credentials = DbtCloudCredentials.load("my-dbt-credentials")
    trigger_dbt_cloud_job_run(dbt_cloud_credentials=credentials, job_id=1)

trigger_dbt_cloud_job_run_flow()
```',0,'dbt-cloud-credentials');
INSERT INTO "block_type" VALUES('9817c058-0374-49d3-b753-7991c57ffa19','2026-12-01 03:20:17.939318','2026-12-01 03:20:17.939366','dbt Core Operation','https://images.ctfassets.net/gm98wzqotmnx/5zE9lxfzBHjw3tnEup4wWL/9a001902ed43a84c6c96d23b24622e19/dbt-bit_tm.png?h=250','https://prefecthq.github.io/prefect-dbt/cli/commands/#prefect_dbt.cli.commands.DbtCoreOperation','A block representing a dbt operation, containing multiple dbt and shell commands.

For long-lasting operations, use the trigger method and utilize the block as a
context manager for automatic closure of processes when context is exited.
If not, manually call the close method to close processes.

For short-lasting operations, use the run method. Context is automatically managed
with this method. This block is part of the prefect-dbt collection. Install prefect-dbt with `pip install prefect-dbt` to use this block.','Load a configured block.
```python
from prefect_dbt import DbtCoreOperation

dbt_op = DbtCoreOperation.load("BLOCK_NAME")
```

Execute short-lasting dbt debug and list with a custom DbtCliProfile.
```python
from prefect_dbt import DbtCoreOperation, DbtCliProfile
from prefect_dbt.cli.configs import SnowflakeTargetConfigs
from prefect_snowflake import SnowflakeConnector

snowflake_connector = await SnowflakeConnector.load("snowflake-connector")
target_configs = SnowflakeTargetConfigs(connector=snowflake_connector)
dbt_cli_profile = DbtCliProfile(
    name="jaffle_shop",
    target="dev",
    target_configs=target_configs,
)
dbt_init = DbtCoreOperation(
    commands=["dbt debug", "dbt list"],
    dbt_cli_profile=dbt_cli_profile,
    overwrite_profiles=True
)
dbt_init.run()
```

Execute a longer-lasting dbt run as a context manager.
```python
with DbtCoreOperation(commands=["dbt run"]) as dbt_run:
    dbt_process = dbt_run.trigger()
    # do other things
    dbt_process.wait_for_completion()
    dbt_output = dbt_process.fetch_result()
```',0,'dbt-core-operation');
INSERT INTO "block_type" VALUES('ab8b6472-9b18-4e18-99cb-497ca9378dbf','2026-12-01 03:20:17.946285','2026-12-01 03:20:17.946328','Docker Host','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/docker.png',NULL,'Store settings for interacting with a Docker host. This block is part of the prefect-docker collection. Install prefect-docker with `pip install prefect-docker` to use this block.','Get a Docker Host client.
```python
from prefect_docker import DockerHost

docker_host = DockerHost(
base_url="tcp://127.0.0.1:1234",
    max_pool_size=4
)
with docker_host.get_client() as client:
    ... # Use the client for Docker operations
```',0,'docker-host');
INSERT INTO "block_type" VALUES('41b2bb00-e932-4e37-9357-599dbdcbe95c','2026-12-01 03:20:17.953058','2026-12-01 03:20:17.953104','Docker Registry Credentials','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/docker.png',NULL,'Store credentials for interacting with a Docker Registry. This block is part of the prefect-docker collection. Install prefect-docker with `pip install prefect-docker` to use this block.','Log into Docker Registry.
```python
from prefect_docker import DockerHost, DockerRegistryCredentials

docker_host = DockerHost()
docker_registry_credentials = DockerRegistryCredentials(
    username="my_username",
    password="my_password",
    registry_url="registry.hub.docker.com",
)
with docker_host.get_client() as client:
    docker_registry_credentials.login(client)
```',0,'docker-registry-credentials');
INSERT INTO "block_type" VALUES('76e30d0a-8223-4aee-8a5e-762bce797e40','2026-12-01 03:20:17.960202','2026-12-01 03:20:17.960247','Email Server Credentials','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/email.png','https://prefecthq.github.io/prefect-email/credentials/#prefect_email.credentials.EmailServerCredentials','Block used to manage generic email server authentication.
It is recommended you use a
[Google App Password](https://support.google.com/accounts/answer/185833)
if you use Gmail. This block is part of the prefect-email collection. Install prefect-email with `pip install prefect-email` to use this block.','Load stored email server credentials:
```python
from prefect_email import EmailServerCredentials
email_credentials_block = EmailServerCredentials.load("BLOCK_NAME")
```',0,'email-server-credentials');
INSERT INTO "block_type" VALUES('9815c13d-7518-4537-8739-0f27105f421b','2026-12-01 03:20:17.967012','2026-12-01 03:20:17.967060','BigQuery Warehouse','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/googlecloud.png','https://prefecthq.github.io/prefect-gcp/bigquery/#prefect_gcp.bigquery.BigQueryWarehouse','A block for querying a database with BigQuery.

Upon instantiating, a connection to BigQuery is established
and maintained for the life of the object until the close method is called.

It is recommended to use this block as a context manager, which will automatically
close the connection and its cursors when the context is exited.

It is also recommended that this block is loaded and consumed within a single task
or flow because if the block is passed across separate tasks and flows,
the state of the block''s connection and cursor could be lost. This block is part of the prefect-gcp collection. Install prefect-gcp with `pip install prefect-gcp` to use this block.','```python
from prefect_gcp.bigquery import BigQueryWarehouse

bigquery_warehouse_block = BigQueryWarehouse.load("BLOCK_NAME")
```',0,'bigquery-warehouse');
INSERT INTO "block_type" VALUES('6138c214-2f18-4c04-8965-bb4f8a5608b5','2026-12-01 03:20:17.973311','2026-12-01 03:20:17.973352','GCP Credentials','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/googlecloud.png','https://prefecthq.github.io/prefect-gcp/credentials/#prefect_gcp.credentials.GcpCredentials','Block used to manage authentication with GCP. Google authentication is
handled via the `google.oauth2` module or through the CLI.
Specify either one of service `account_file` or `service_account_info`; if both
are not specified, the client will try to detect the credentials following Google''s
[Application Default Credentials](https://cloud.google.com/docs/authentication/application-default-credentials).
See Google''s [Authentication documentation](https://cloud.google.com/docs/authentication#service-accounts)
for details on inference and recommended authentication patterns. This block is part of the prefect-gcp collection. Install prefect-gcp with `pip install prefect-gcp` to use this block.','Load GCP credentials stored in a `GCP Credentials` Block:
```python
from prefect_gcp import GcpCredentials
gcp_credentials_block = GcpCredentials.load("BLOCK_NAME")
```',0,'gcp-credentials');
INSERT INTO "block_type" VALUES('ca9ad399-05f0-45e5-8b40-5a6e98ce43b6','2026-12-01 03:20:17.980081','2026-12-01 03:20:17.980125','GcpSecret','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/googlecloud.png','https://prefecthq.github.io/prefect-gcp/secret_manager/#prefect_gcp.secret_manager.GcpSecret','Manages a secret in Google Cloud Platform''s Secret Manager. This block is part of the prefect-gcp collection. Install prefect-gcp with `pip install prefect-gcp` to use this block.','```python
from prefect_gcp.secret_manager import GcpSecret

gcpsecret_block = GcpSecret.load("BLOCK_NAME")
```',0,'gcpsecret');
INSERT INTO "block_type" VALUES('6a5439ed-68d2-4e3c-a4fb-ccd634619bb5','2026-12-01 03:20:17.986677','2026-12-01 03:20:17.986722','GCS Bucket','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/googlecloud.png','https://prefecthq.github.io/prefect-gcp/cloud_storage/#prefect_gcp.cloud_storage.GcsBucket','Block used to store data using GCP Cloud Storage Buckets.

Note! `GcsBucket` in `prefect-gcp` is a unique block, separate from `GCS`
in core Prefect. `GcsBucket` does not use `gcsfs` under the hood,
instead using the `google-cloud-storage` package, and offers more configuration
and functionality. This block is part of the prefect-gcp collection. Install prefect-gcp with `pip install prefect-gcp` to use this block.','Load stored GCP Cloud Storage Bucket:
```python
from prefect_gcp.cloud_storage import GcsBucket
gcp_cloud_storage_bucket_block = GcsBucket.load("BLOCK_NAME")
```',0,'gcs-bucket');
INSERT INTO "block_type" VALUES('0747afde-7856-4ba4-aec0-13c01ac43190','2026-12-01 03:20:17.993343','2026-12-01 03:20:17.993380','GitHub Credentials','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/github.png','https://prefecthq.github.io/prefect-github/credentials/#prefect_github.credentials.GitHubCredentials','Block used to manage GitHub authentication. This block is part of the prefect-github collection. Install prefect-github with `pip install prefect-github` to use this block.','Load stored GitHub credentials:
```python
from prefect_github import GitHubCredentials
github_credentials_block = GitHubCredentials.load("BLOCK_NAME")
```',0,'github-credentials');
INSERT INTO "block_type" VALUES('6025d1aa-72fd-4d87-9d59-e2600423a8b4','2026-12-01 03:20:17.998447','2026-12-01 03:20:17.998521','GitHub Repository','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/github.png','https://prefecthq.github.io/prefect-github/repository/#prefect_github.repository.GitHubRepository','Interact with files stored on GitHub repositories. This block is part of the prefect-github collection. Install prefect-github with `pip install prefect-github` to use this block.','```python
from prefect_github.repository import GitHubRepository

github_repository_block = GitHubRepository.load("BLOCK_NAME")
```',0,'github-repository');
INSERT INTO "block_type" VALUES('9cd5e333-5505-4e6f-811f-671a4753edb3','2026-12-01 03:20:18.004970','2026-12-01 03:20:18.005011','GitLab Credentials','https://images.ctfassets.net/gm98wzqotmnx/55edIimT4g9gbjhkh5a3Sp/dfdb9391d8f45c2e93e72e3a4d350771/gitlab-logo-500.png?h=250',NULL,'Store a GitLab personal access token to interact with private GitLab
repositories. This block is part of the prefect-gitlab collection. Install prefect-gitlab with `pip install prefect-gitlab` to use this block.','Load stored GitLab credentials:
```python
from prefect_gitlab import GitLabCredentials
gitlab_credentials_block = GitLabCredentials.load("BLOCK_NAME")
```',0,'gitlab-credentials');
INSERT INTO "block_type" VALUES('92eef7c4-b90d-4e6e-9563-8cce242011b0','2026-12-01 03:20:18.011225','2026-12-01 03:20:18.011264','GitLab Repository','https://images.ctfassets.net/gm98wzqotmnx/55edIimT4g9gbjhkh5a3Sp/dfdb9391d8f45c2e93e72e3a4d350771/gitlab-logo-500.png?h=250',NULL,'Interact with files stored in GitLab repositories. This block is part of the prefect-gitlab collection. Install prefect-gitlab with `pip install prefect-gitlab` to use this block.','```python
from prefect_gitlab.repositories import GitLabRepository

gitlab_repository_block = GitLabRepository.load("BLOCK_NAME")
```',0,'gitlab-repository');
INSERT INTO "block_type" VALUES('3cf5293c-1b74-42c4-a8ea-ae1e6968520e','2026-12-01 03:20:18.017790','2026-12-01 03:20:18.017832','Kubernetes Cluster Config','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/kubernetes.png','https://www.prefect.io/docs/integrations/prefect-kubernetes','Stores configuration for interaction with Kubernetes clusters.

See `from_file` for creation.','Load a saved Kubernetes cluster config:
```python
from prefect.blocks.kubernetes import KubernetesClusterConfig

cluster_config_block = KubernetesClusterConfig.load("BLOCK_NAME")
```',0,'kubernetes-cluster-config');
INSERT INTO "block_type" VALUES('1233c44d-7e85-4132-8b23-6f94497ce032','2026-12-01 03:20:18.023781','2026-12-01 03:20:18.023821','Kubernetes Credentials','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/kubernetes.png','https://prefecthq.github.io/prefect-kubernetes/credentials/#prefect_kubernetes.credentials.KubernetesCredentials','Credentials block for generating configured Kubernetes API clients. This block is part of the prefect-kubernetes collection. Install prefect-kubernetes with `pip install prefect-kubernetes` to use this block.','Load stored Kubernetes credentials:
```python
from prefect_kubernetes.credentials import KubernetesCredentials

kubernetes_credentials = KubernetesCredentials.load("BLOCK_NAME")
```',0,'kubernetes-credentials');
INSERT INTO "block_type" VALUES('168f055a-f538-45c6-a057-5e9247eaf648','2026-12-01 03:20:18.030126','2026-12-01 03:20:18.030178','Shell Operation','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/terminal.png','https://prefecthq.github.io/prefect-shell/commands/#prefect_shell.commands.ShellOperation','A block representing a shell operation, containing multiple commands.

For long-lasting operations, use the trigger method and utilize the block as a
context manager for automatic closure of processes when context is exited.
If not, manually call the close method to close processes.

For short-lasting operations, use the run method. Context is automatically managed
with this method. This block is part of the prefect-shell collection. Install prefect-shell with `pip install prefect-shell` to use this block.','Load a configured block:
```python
from prefect_shell import ShellOperation

shell_operation = ShellOperation.load("BLOCK_NAME")
```',0,'shell-operation');
INSERT INTO "block_type" VALUES('032b1658-e47a-47b9-8335-8669a688a658','2026-12-01 03:20:18.036668','2026-12-01 03:20:18.036710','Slack Credentials','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/slack.png','https://prefecthq.github.io/prefect-slack/credentials/#prefect_slack.credentials.SlackCredentials','Block holding Slack credentials for use in tasks and flows. This block is part of the prefect-slack collection. Install prefect-slack with `pip install prefect-slack` to use this block.','Load stored Slack credentials:
```python
from prefect_slack import SlackCredentials
slack_credentials_block = SlackCredentials.load("BLOCK_NAME")
```

Get a Slack client:
```python
from prefect_slack import SlackCredentials
slack_credentials_block = SlackCredentials.load("BLOCK_NAME")
client = slack_credentials_block.get_client()
```',0,'slack-credentials');
INSERT INTO "block_type" VALUES('a5d2aeb4-4f0b-4730-baa3-5f84a9ec296f','2026-12-01 03:20:18.043370','2026-12-01 03:20:18.043414','Snowflake Connector','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/snowflake.png','https://prefecthq.github.io/prefect-snowflake/database/#prefect_snowflake.database.SnowflakeConnector','Perform data operations against a Snowflake database. This block is part of the prefect-snowflake collection. Install prefect-snowflake with `pip install prefect-snowflake` to use this block.','Load stored Snowflake connector as a context manager:
```python
from prefect_snowflake.database import SnowflakeConnector

snowflake_connector = SnowflakeConnector.load("BLOCK_NAME"):
```

Insert data into database and fetch results.
```python
from prefect_snowflake.database import SnowflakeConnector

with SnowflakeConnector.load("BLOCK_NAME") as conn:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS customers (name varchar, address varchar);"
    )
    conn.execute_many(
        "INSERT INTO customers (name, address) VALUES (%(name)s, %(address)s);",
        seq_of_parameters=[
            {"name": "Ford", "address": "Highway 42"},
            {"name": "Unknown", "address": "Space"},
            {"name": "Me", "address": "Myway 88"},
        ],
    )
    results = conn.fetch_all(
        "SELECT * FROM customers WHERE address = %(address)s",
        parameters={"address": "Space"}
    )
    print(results)
```',0,'snowflake-connector');
INSERT INTO "block_type" VALUES('799ba8b8-06c3-4006-97a9-1a19b118480c','2026-12-01 03:20:18.049968','2026-12-01 03:20:18.050012','Snowflake Credentials','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/snowflake.png','https://prefecthq.github.io/prefect-snowflake/credentials/#prefect_snowflake.credentials.SnowflakeCredentials','Block used to manage authentication with Snowflake. This block is part of the prefect-snowflake collection. Install prefect-snowflake with `pip install prefect-snowflake` to use this block.','Load stored Snowflake credentials:
```python
from prefect_snowflake import SnowflakeCredentials

snowflake_credentials_block = SnowflakeCredentials.load("BLOCK_NAME")
```',0,'snowflake-credentials');
INSERT INTO "block_type" VALUES('2a6ea45c-042c-40fc-b024-57208903f2a1','2026-12-01 03:20:18.056436','2026-12-01 03:20:18.056511','Database Credentials','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/sqlalchemy.png','https://prefecthq.github.io/prefect-sqlalchemy/credentials/#prefect_sqlalchemy.credentials.DatabaseCredentials','Block used to manage authentication with a database. This block is part of the prefect-sqlalchemy collection. Install prefect-sqlalchemy with `pip install prefect-sqlalchemy` to use this block.','Load stored database credentials:
```python
from prefect_sqlalchemy import DatabaseCredentials
database_block = DatabaseCredentials.load("BLOCK_NAME")
```',0,'database-credentials');
INSERT INTO "block_type" VALUES('10d9a922-9607-4151-b62f-c1a33e77dc62','2026-12-01 03:20:18.062858','2026-12-01 03:20:18.062901','SQLAlchemy Connector','https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/sqlalchemy.png','https://prefecthq.github.io/prefect-sqlalchemy/database/#prefect_sqlalchemy.database.SqlAlchemyConnector','Block used to manage authentication with a database.

Upon instantiating, an engine is created and maintained for the life of
the object until the close method is called.

It is recommended to use this block as a context manager, which will automatically
close the engine and its connections when the context is exited.

It is also recommended that this block is loaded and consumed within a single task
or flow because if the block is passed across separate tasks and flows,
the state of the block''s connection and cursor could be lost. This block is part of the prefect-sqlalchemy collection. Install prefect-sqlalchemy with `pip install prefect-sqlalchemy` to use this block.','Load stored database credentials and use in context manager:
```python
from prefect_sqlalchemy import SqlAlchemyConnector

database_block = SqlAlchemyConnector.load("BLOCK_NAME")
with database_block:
    ...
```

Create table named customers and insert values; then fetch the first 10 rows.
```python
from prefect_sqlalchemy import (
    SqlAlchemyConnector, SyncDriver, ConnectionComponents
)

with SqlAlchemyConnector(
    connection_info=ConnectionComponents(
        driver=SyncDriver.SQLITE_PYSQLITE,
        database="prefect.db"
    )
) as database:
    database.execute(
        "CREATE TABLE IF NOT EXISTS customers (name varchar, address varchar);",
    )
    for i in range(1, 42):
        database.execute(
            "INSERT INTO customers (name, address) VALUES (:name, :address);",
            parameters={"name": "Marvin", "address": f"Highway {i}"},
        )
    results = database.fetch_many(
        "SELECT * FROM customers WHERE name = :name;",
        parameters={"name": "Marvin"},
        size=10
    )
print(results)
```',0,'sqlalchemy-connector');
CREATE TABLE composite_trigger_child_firing (
	automation_id CHAR(36) NOT NULL, 
	parent_trigger_id CHAR(36) NOT NULL, 
	child_trigger_id CHAR(36) NOT NULL, 
	child_firing_id CHAR(36) NOT NULL, 
	child_fired_at DATETIME, 
	child_firing JSON NOT NULL, 
	id CHAR(36) DEFAULT (
    (
        lower(hex(randomblob(4)))
        || '-'
        || lower(hex(randomblob(2)))
        || '-4'
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || substr('89ab',abs(random()) % 4 + 1, 1)
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || lower(hex(randomblob(6)))
    )
    ) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	CONSTRAINT pk_composite_trigger_child_firing PRIMARY KEY (id), 
	CONSTRAINT fk_composite_trigger_child_firing__automation_id__automation FOREIGN KEY(automation_id) REFERENCES automation (id) ON DELETE CASCADE
);
CREATE TABLE concurrency_limit (
	id CHAR(36) DEFAULT (
    (
        lower(hex(randomblob(4))) 
        || '-' 
        || lower(hex(randomblob(2))) 
        || '-4' 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || substr('89ab',abs(random()) % 4 + 1, 1) 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || lower(hex(randomblob(6)))
    )
    ) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	tag VARCHAR NOT NULL, 
	concurrency_limit INTEGER NOT NULL, 
	active_slots JSON DEFAULT '[]' NOT NULL, 
	CONSTRAINT pk_concurrency_limit PRIMARY KEY (id)
);
CREATE TABLE "concurrency_limit_v2" (
	id CHAR(36) DEFAULT ((
        lower(hex(randomblob(4)))
        || '-'
        || lower(hex(randomblob(2)))
        || '-4'
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || substr('89ab',abs(random()) % 4 + 1, 1)
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || lower(hex(randomblob(6)))
    )) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	active BOOLEAN NOT NULL, 
	name VARCHAR NOT NULL, 
	"limit" INTEGER NOT NULL, 
	active_slots INTEGER NOT NULL, 
	denied_slots INTEGER NOT NULL, 
	slot_decay_per_second FLOAT NOT NULL, 
	avg_slot_occupancy_seconds FLOAT NOT NULL, 
	CONSTRAINT pk_concurrency_limit_v2 PRIMARY KEY (id), 
	CONSTRAINT uq_concurrency_limit_v2__name UNIQUE (name)
);
CREATE TABLE configuration (
	id CHAR(36) DEFAULT (
    (
        lower(hex(randomblob(4))) 
        || '-' 
        || lower(hex(randomblob(2))) 
        || '-4' 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || substr('89ab',abs(random()) % 4 + 1, 1) 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || lower(hex(randomblob(6)))
    )
    ) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	"key" VARCHAR NOT NULL, 
	value JSON NOT NULL, 
	CONSTRAINT pk_configuration PRIMARY KEY (id), 
	CONSTRAINT uq_configuration__key UNIQUE ("key")
);
CREATE TABLE csrf_token (
	token VARCHAR NOT NULL, 
	client VARCHAR NOT NULL, 
	expiration DATETIME NOT NULL, 
	id CHAR(36) DEFAULT (
    (
        lower(hex(randomblob(4)))
        || '-'
        || lower(hex(randomblob(2)))
        || '-4'
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || substr('89ab',abs(random()) % 4 + 1, 1)
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || lower(hex(randomblob(6)))
    )
    ) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	CONSTRAINT pk_csrf_token PRIMARY KEY (id), 
	CONSTRAINT uq_csrf_token__client UNIQUE (client)
);
CREATE TABLE "deployment" (
	id CHAR(36) DEFAULT ((
        lower(hex(randomblob(4))) 
        || '-' 
        || lower(hex(randomblob(2))) 
        || '-4' 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || substr('89ab',abs(random()) % 4 + 1, 1) 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || lower(hex(randomblob(6)))
    )) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	name VARCHAR NOT NULL, 
	tags JSON DEFAULT '[]' NOT NULL, 
	parameters JSON DEFAULT '{}' NOT NULL, 
	flow_id CHAR(36) NOT NULL, 
	description TEXT, 
	infrastructure_document_id CHAR(36), 
	parameter_openapi_schema JSON, 
	storage_document_id CHAR(36), 
	version VARCHAR, 
	infra_overrides JSON DEFAULT '{}' NOT NULL, 
	path VARCHAR, 
	entrypoint VARCHAR, 
	work_queue_name VARCHAR, 
	created_by JSON, 
	updated_by JSON, 
	work_queue_id CHAR(36), 
	pull_steps JSON, 
	enforce_parameter_schema BOOLEAN DEFAULT '0' NOT NULL, 
	last_polled DATETIME, 
	paused BOOLEAN DEFAULT '0' NOT NULL, 
	status VARCHAR(9) DEFAULT 'NOT_READY' NOT NULL, 
	concurrency_limit INTEGER, 
	concurrency_options JSON, 
	concurrency_limit_id CHAR(36), 
	labels JSON, version_id CHAR(36), 
	CONSTRAINT pk_deployment PRIMARY KEY (id), 
	CONSTRAINT fk_deployment__infrastructure_document_id__block_document FOREIGN KEY(infrastructure_document_id) REFERENCES block_document (id) ON DELETE CASCADE, 
	CONSTRAINT fk_deployment__work_queue_id__work_queue FOREIGN KEY(work_queue_id) REFERENCES work_queue (id) ON DELETE SET NULL, 
	CONSTRAINT fk_deployment__flow_id__flow FOREIGN KEY(flow_id) REFERENCES flow (id) ON DELETE CASCADE, 
	CONSTRAINT fk_deployment__concurrency_limit_id__concurrency_limit_v2 FOREIGN KEY(concurrency_limit_id) REFERENCES concurrency_limit_v2 (id) ON DELETE SET NULL, 
	CONSTRAINT fk_deployment__storage_document_id__block_document FOREIGN KEY(storage_document_id) REFERENCES block_document (id) ON DELETE CASCADE
);
CREATE TABLE "deployment_schedule" (
	id CHAR(36) DEFAULT ((
        lower(hex(randomblob(4)))
        || '-'
        || lower(hex(randomblob(2)))
        || '-4'
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || substr('89ab',abs(random()) % 4 + 1, 1)
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || lower(hex(randomblob(6)))
    )) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	schedule JSON NOT NULL, 
	active BOOLEAN NOT NULL, 
	deployment_id CHAR(36) NOT NULL, 
	max_scheduled_runs INTEGER, parameters JSON DEFAULT '{}' NOT NULL, slug VARCHAR, 
	CONSTRAINT pk_deployment_schedule PRIMARY KEY (id), 
	CONSTRAINT fk_deployment_schedule__deployment_id__deployment FOREIGN KEY(deployment_id) REFERENCES deployment (id) ON DELETE CASCADE
);
CREATE TABLE deployment_version (
	deployment_id CHAR(36) NOT NULL, 
	branch VARCHAR, 
	version_info JSON DEFAULT '{}' NOT NULL, 
	description TEXT, 
	tags JSON DEFAULT '[]' NOT NULL, 
	labels JSON, 
	entrypoint VARCHAR, 
	pull_steps JSON, 
	parameters JSON DEFAULT '{}' NOT NULL, 
	parameter_openapi_schema JSON, 
	enforce_parameter_schema BOOLEAN DEFAULT '0' NOT NULL, 
	work_queue_id CHAR(36), 
	work_queue_name VARCHAR, 
	infra_overrides JSON DEFAULT '{}' NOT NULL, 
	id CHAR(36) DEFAULT (GEN_RANDOM_UUID()) NOT NULL, 
	created DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	CONSTRAINT pk_deployment_version PRIMARY KEY (id), 
	CONSTRAINT fk_deployment_version__deployment_id__deployment FOREIGN KEY(deployment_id) REFERENCES deployment (id) ON DELETE CASCADE, 
	CONSTRAINT fk_deployment_version__work_queue_id__work_queue FOREIGN KEY(work_queue_id) REFERENCES work_queue (id) ON DELETE SET NULL
);
CREATE TABLE event_resources (
	occurred DATETIME NOT NULL, 
	resource_id TEXT NOT NULL, 
	resource_role TEXT NOT NULL, 
	resource JSON NOT NULL, 
	event_id CHAR(36) NOT NULL, 
	id CHAR(36) DEFAULT (
    (
        lower(hex(randomblob(4)))
        || '-'
        || lower(hex(randomblob(2)))
        || '-4'
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || substr('89ab',abs(random()) % 4 + 1, 1)
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || lower(hex(randomblob(6)))
    )
    ) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	CONSTRAINT pk_event_resources PRIMARY KEY (id)
);
CREATE TABLE events (
	occurred DATETIME NOT NULL, 
	event TEXT NOT NULL, 
	resource_id TEXT NOT NULL, 
	resource JSON NOT NULL, 
	related_resource_ids JSON DEFAULT '[]' NOT NULL, 
	related JSON DEFAULT '[]' NOT NULL, 
	payload JSON NOT NULL, 
	received DATETIME NOT NULL, 
	recorded DATETIME NOT NULL, 
	follows CHAR(36), 
	id CHAR(36) DEFAULT (
    (
        lower(hex(randomblob(4)))
        || '-'
        || lower(hex(randomblob(2)))
        || '-4'
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || substr('89ab',abs(random()) % 4 + 1, 1)
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || lower(hex(randomblob(6)))
    )
    ) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	CONSTRAINT pk_events PRIMARY KEY (id)
);
CREATE TABLE flow (
	id CHAR(36) DEFAULT (
    (
        lower(hex(randomblob(4))) 
        || '-' 
        || lower(hex(randomblob(2))) 
        || '-4' 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || substr('89ab',abs(random()) % 4 + 1, 1) 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || lower(hex(randomblob(6)))
    )
    ) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	name VARCHAR NOT NULL, 
	tags JSON DEFAULT '[]' NOT NULL, labels JSON, 
	CONSTRAINT pk_flow PRIMARY KEY (id), 
	CONSTRAINT uq_flow__name UNIQUE (name)
);
CREATE TABLE "flow_run" (
	id CHAR(36) DEFAULT ((
        lower(hex(randomblob(4))) 
        || '-' 
        || lower(hex(randomblob(2))) 
        || '-4' 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || substr('89ab',abs(random()) % 4 + 1, 1) 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || lower(hex(randomblob(6)))
    )) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	name VARCHAR NOT NULL, 
	state_type VARCHAR(9), 
	run_count INTEGER DEFAULT '0' NOT NULL, 
	expected_start_time DATETIME, 
	next_scheduled_start_time DATETIME, 
	start_time DATETIME, 
	end_time DATETIME, 
	total_run_time DATETIME DEFAULT '0' NOT NULL, 
	flow_version VARCHAR, 
	parameters JSON DEFAULT '{}' NOT NULL, 
	idempotency_key VARCHAR, 
	context JSON DEFAULT '{}' NOT NULL, 
	empirical_policy JSON DEFAULT '{}' NOT NULL, 
	tags JSON DEFAULT '[]' NOT NULL, 
	auto_scheduled BOOLEAN DEFAULT '0' NOT NULL, 
	flow_id CHAR(36) NOT NULL, 
	deployment_id CHAR(36), 
	parent_task_run_id CHAR(36), 
	state_id CHAR(36), 
	state_name VARCHAR, 
	infrastructure_document_id CHAR(36), 
	work_queue_name VARCHAR, 
	state_timestamp DATETIME, 
	created_by JSON, 
	infrastructure_pid VARCHAR, 
	work_queue_id CHAR(36), job_variables JSON DEFAULT '{}', deployment_version VARCHAR, labels JSON, 
	CONSTRAINT pk_flow_run PRIMARY KEY (id), 
	CONSTRAINT fk_flow_run__parent_task_run_id__task_run FOREIGN KEY(parent_task_run_id) REFERENCES task_run (id) ON DELETE SET NULL, 
	CONSTRAINT fk_flow_run__work_queue_id__work_queue FOREIGN KEY(work_queue_id) REFERENCES work_queue (id) ON DELETE SET NULL, 
	CONSTRAINT fk_flow_run__flow_id__flow FOREIGN KEY(flow_id) REFERENCES flow (id) ON DELETE CASCADE, 
	CONSTRAINT fk_flow_run__state_id__flow_run_state FOREIGN KEY(state_id) REFERENCES flow_run_state (id) ON DELETE SET NULL, 
	CONSTRAINT fk_flow_run__infrastructure_document_id__block_document FOREIGN KEY(infrastructure_document_id) REFERENCES block_document (id) ON DELETE CASCADE
);
CREATE TABLE "flow_run_input" (
	id CHAR(36) DEFAULT ((
        lower(hex(randomblob(4)))
        || '-'
        || lower(hex(randomblob(2)))
        || '-4'
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || substr('89ab',abs(random()) % 4 + 1, 1)
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || lower(hex(randomblob(6)))
    )) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	"key" VARCHAR NOT NULL, 
	value TEXT NOT NULL, 
	flow_run_id CHAR(36) NOT NULL, sender VARCHAR, 
	CONSTRAINT pk_flow_run_input PRIMARY KEY (id), 
	CONSTRAINT uq_flow_run_input__flow_run_id_key UNIQUE (flow_run_id, "key"), 
	CONSTRAINT fk_flow_run_input__flow_run_id__flow_run FOREIGN KEY(flow_run_id) REFERENCES flow_run (id) ON DELETE cascade
);
CREATE TABLE "flow_run_state" (
	id CHAR(36) DEFAULT ((
        lower(hex(randomblob(4))) 
        || '-' 
        || lower(hex(randomblob(2))) 
        || '-4' 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || substr('89ab',abs(random()) % 4 + 1, 1) 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || lower(hex(randomblob(6)))
    )) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	type VARCHAR(9) NOT NULL, 
	timestamp DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	name VARCHAR NOT NULL, 
	message VARCHAR, 
	state_details JSON DEFAULT '{}' NOT NULL, 
	data JSON, 
	flow_run_id CHAR(36) NOT NULL, 
	result_artifact_id CHAR(36), 
	CONSTRAINT pk_flow_run_state PRIMARY KEY (id), 
	CONSTRAINT fk_flow_run_state__result_artifact_id__artifact FOREIGN KEY(result_artifact_id) REFERENCES artifact (id) ON DELETE SET NULL, 
	CONSTRAINT fk_flow_run_state__flow_run_id__flow_run FOREIGN KEY(flow_run_id) REFERENCES flow_run (id) ON DELETE CASCADE
);
CREATE TABLE "log" (
	id CHAR(36) DEFAULT ((
        lower(hex(randomblob(4))) 
        || '-' 
        || lower(hex(randomblob(2))) 
        || '-4' 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || substr('89ab',abs(random()) % 4 + 1, 1) 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || lower(hex(randomblob(6)))
    )) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	name VARCHAR NOT NULL, 
	level SMALLINT NOT NULL, 
	flow_run_id CHAR(36), 
	task_run_id CHAR(36), 
	message TEXT NOT NULL, 
	timestamp DATETIME NOT NULL, 
	CONSTRAINT pk_log PRIMARY KEY (id)
);
CREATE TABLE saved_search (
	id CHAR(36) DEFAULT (
    (
        lower(hex(randomblob(4))) 
        || '-' 
        || lower(hex(randomblob(2))) 
        || '-4' 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || substr('89ab',abs(random()) % 4 + 1, 1) 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || lower(hex(randomblob(6)))
    )
    ) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	name VARCHAR NOT NULL, 
	filters JSON DEFAULT '[]' NOT NULL, 
	CONSTRAINT pk_saved_search PRIMARY KEY (id), 
	CONSTRAINT uq_saved_search__name UNIQUE (name)
);
CREATE TABLE "task_run" (
	id CHAR(36) DEFAULT ((
        lower(hex(randomblob(4))) 
        || '-' 
        || lower(hex(randomblob(2))) 
        || '-4' 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || substr('89ab',abs(random()) % 4 + 1, 1) 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || lower(hex(randomblob(6)))
    )) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	name VARCHAR NOT NULL, 
	state_type VARCHAR(9), 
	run_count INTEGER DEFAULT '0' NOT NULL, 
	expected_start_time DATETIME, 
	next_scheduled_start_time DATETIME, 
	start_time DATETIME, 
	end_time DATETIME, 
	total_run_time DATETIME DEFAULT '0' NOT NULL, 
	task_key VARCHAR NOT NULL, 
	dynamic_key VARCHAR NOT NULL, 
	cache_key VARCHAR, 
	cache_expiration DATETIME, 
	task_version VARCHAR, 
	empirical_policy JSON DEFAULT '{}' NOT NULL, 
	task_inputs JSON DEFAULT '{}' NOT NULL, 
	tags JSON DEFAULT '[]' NOT NULL, 
	flow_run_id CHAR(36), 
	state_id CHAR(36), 
	state_name VARCHAR, 
	state_timestamp DATETIME, 
	flow_run_run_count INTEGER DEFAULT '0' NOT NULL, 
	labels JSON, 
	CONSTRAINT pk_task_run PRIMARY KEY (id), 
	CONSTRAINT fk_task_run__flow_run_id__flow_run FOREIGN KEY(flow_run_id) REFERENCES flow_run (id) ON DELETE CASCADE
);
CREATE TABLE "task_run_state" (
	id CHAR(36) DEFAULT ((
        lower(hex(randomblob(4))) 
        || '-' 
        || lower(hex(randomblob(2))) 
        || '-4' 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || substr('89ab',abs(random()) % 4 + 1, 1) 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || lower(hex(randomblob(6)))
    )) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	type VARCHAR(9) NOT NULL, 
	timestamp DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	name VARCHAR NOT NULL, 
	message VARCHAR, 
	state_details JSON DEFAULT '{}' NOT NULL, 
	data JSON, 
	task_run_id CHAR(36) NOT NULL, 
	result_artifact_id CHAR(36), 
	CONSTRAINT pk_task_run_state PRIMARY KEY (id), 
	CONSTRAINT fk_task_run_state__task_run_id__task_run FOREIGN KEY(task_run_id) REFERENCES task_run (id) ON DELETE CASCADE, 
	CONSTRAINT fk_task_run_state__result_artifact_id__artifact FOREIGN KEY(result_artifact_id) REFERENCES artifact (id) ON DELETE SET NULL
);
CREATE TABLE task_run_state_cache (
	id CHAR(36) DEFAULT (
    (
        lower(hex(randomblob(4))) 
        || '-' 
        || lower(hex(randomblob(2))) 
        || '-4' 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || substr('89ab',abs(random()) % 4 + 1, 1) 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || lower(hex(randomblob(6)))
    )
    ) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	cache_key VARCHAR NOT NULL, 
	cache_expiration DATETIME, 
	task_run_state_id CHAR(36) NOT NULL, 
	CONSTRAINT pk_task_run_state_cache PRIMARY KEY (id)
);
CREATE TABLE "variable" (
	id CHAR(36) DEFAULT ((
        lower(hex(randomblob(4)))
        || '-'
        || lower(hex(randomblob(2)))
        || '-4'
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || substr('89ab',abs(random()) % 4 + 1, 1)
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || lower(hex(randomblob(6)))
    )) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	name VARCHAR NOT NULL, 
	tags JSON DEFAULT '[]' NOT NULL, 
	value JSON, 
	CONSTRAINT pk_variable PRIMARY KEY (id), 
	CONSTRAINT uq_variable__name UNIQUE (name)
);
CREATE TABLE "work_pool" (
	id CHAR(36) DEFAULT ((
        lower(hex(randomblob(4)))
        || '-'
        || lower(hex(randomblob(2)))
        || '-4'
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || substr('89ab',abs(random()) % 4 + 1, 1)
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || lower(hex(randomblob(6)))
    )) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	name VARCHAR NOT NULL, 
	description VARCHAR, 
	type VARCHAR NOT NULL, 
	base_job_template JSON DEFAULT '{}' NOT NULL, 
	is_paused BOOLEAN DEFAULT '0' NOT NULL, 
	concurrency_limit INTEGER, 
	default_queue_id CHAR(36), status VARCHAR(9) DEFAULT 'NOT_READY' NOT NULL, last_transitioned_status_at DATETIME, last_status_event_id CHAR(36), storage_configuration JSON DEFAULT '{}' NOT NULL, 
	CONSTRAINT pk_work_pool PRIMARY KEY (id), 
	CONSTRAINT uq_work_pool__name UNIQUE (name), 
	CONSTRAINT fk_work_pool__default_queue_id__work_queue FOREIGN KEY(default_queue_id) REFERENCES work_queue (id) ON DELETE RESTRICT
);
CREATE TABLE "work_queue" (
	id CHAR(36) DEFAULT ((
        lower(hex(randomblob(4))) 
        || '-' 
        || lower(hex(randomblob(2))) 
        || '-4' 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || substr('89ab',abs(random()) % 4 + 1, 1) 
        || substr(lower(hex(randomblob(2))),2) 
        || '-' 
        || lower(hex(randomblob(6)))
    )) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	name VARCHAR NOT NULL, 
	filter JSON, 
	description VARCHAR DEFAULT ('') NOT NULL, 
	is_paused BOOLEAN DEFAULT '0' NOT NULL, 
	concurrency_limit INTEGER, 
	last_polled DATETIME, 
	priority INTEGER DEFAULT '1' NOT NULL, 
	work_pool_id CHAR(36) NOT NULL, status VARCHAR(9) DEFAULT 'NOT_READY' NOT NULL, 
	CONSTRAINT pk_work_queue PRIMARY KEY (id), 
	CONSTRAINT fk_work_queue__work_pool_id__work_pool FOREIGN KEY(work_pool_id) REFERENCES work_pool (id) ON DELETE CASCADE, 
	CONSTRAINT uq_work_queue__work_pool_id_name UNIQUE (work_pool_id, name)
);
CREATE TABLE worker (
	id CHAR(36) DEFAULT (
    (
        lower(hex(randomblob(4)))
        || '-'
        || lower(hex(randomblob(2)))
        || '-4'
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || substr('89ab',abs(random()) % 4 + 1, 1)
        || substr(lower(hex(randomblob(2))),2)
        || '-'
        || lower(hex(randomblob(6)))
    )
    ) NOT NULL, 
	created DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	updated DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	name VARCHAR NOT NULL, 
	last_heartbeat_time DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')) NOT NULL, 
	work_pool_id CHAR(36) NOT NULL, heartbeat_interval_seconds INTEGER, status VARCHAR(7) DEFAULT 'OFFLINE' NOT NULL, 
	CONSTRAINT pk_worker PRIMARY KEY (id), 
	CONSTRAINT fk_worker__work_pool_id__work_pool FOREIGN KEY(work_pool_id) REFERENCES work_pool (id) ON DELETE cascade, 
	CONSTRAINT uq_worker__work_pool_id_name UNIQUE (work_pool_id, name)
);
CREATE INDEX ix_flow__updated ON flow (updated);
CREATE INDEX ix_concurrency_limit__updated ON concurrency_limit (updated);
CREATE INDEX ix_saved_search__updated ON saved_search (updated);
CREATE INDEX ix_task_run_state_cache__cache_key_created_desc ON task_run_state_cache (cache_key, created DESC);
CREATE INDEX ix_task_run_state_cache__updated ON task_run_state_cache (updated);
CREATE INDEX ix_agent__updated ON agent (updated);
CREATE INDEX ix_agent__work_queue_id ON agent (work_queue_id);
CREATE INDEX ix_configuration__key ON configuration ("key");
CREATE INDEX ix_configuration__updated ON configuration (updated);
CREATE INDEX ix_flow__created ON flow (created);
CREATE INDEX ix_block_schema__updated ON block_schema (updated);
CREATE INDEX ix_block_schema_reference__updated ON block_schema_reference (updated);
CREATE INDEX ix_flow_name_case_insensitive on flow (name COLLATE NOCASE);
CREATE INDEX ix_block_schema__block_type_id ON block_schema (block_type_id);
CREATE INDEX ix_block_schema__created ON block_schema (created);
CREATE INDEX ix_block_document__is_anonymous ON block_document (is_anonymous);
CREATE UNIQUE INDEX uq_block__type_id_name ON block_document (block_type_id, name);
CREATE INDEX ix_block_document__updated ON block_document (updated);
CREATE INDEX ix_block_document__name ON block_document (name);
CREATE INDEX ix_block_type__updated ON block_type (updated);
CREATE INDEX ix_block_type_name_case_insensitive ON block_type (name);
CREATE UNIQUE INDEX uq_block_type__slug ON block_type (slug);
CREATE UNIQUE INDEX uq_concurrency_limit__tag ON concurrency_limit (tag);
CREATE UNIQUE INDEX uq_block_schema__checksum_version ON block_schema (checksum, version);
CREATE INDEX ix_worker__updated ON worker (updated);
CREATE INDEX ix_worker__work_pool_id_last_heartbeat_time ON worker (work_pool_id, last_heartbeat_time);
CREATE INDEX ix_worker__work_pool_id ON worker (work_pool_id);
CREATE INDEX ix_flow_run_state__name ON flow_run_state (name);
CREATE INDEX ix_flow_run_state__type ON flow_run_state (type);
CREATE UNIQUE INDEX uq_flow_run_state__flow_run_id_timestamp_desc ON flow_run_state (flow_run_id, timestamp);
CREATE INDEX ix_flow_run_state__result_artifact_id ON flow_run_state (result_artifact_id);
CREATE INDEX ix_flow_run_state__updated ON flow_run_state (updated);
CREATE INDEX ix_task_run_state__type ON task_run_state (type);
CREATE UNIQUE INDEX uq_task_run_state__task_run_id_timestamp_desc ON task_run_state (task_run_id, timestamp);
CREATE INDEX ix_task_run_state__updated ON task_run_state (updated);
CREATE INDEX ix_task_run_state__name ON task_run_state (name);
CREATE INDEX ix_task_run_state__result_artifact_id ON task_run_state (result_artifact_id);
CREATE INDEX ix_work_pool__updated ON work_pool (updated);
CREATE INDEX ix_work_pool__type ON work_pool (type);
CREATE INDEX ix_work_queue__work_pool_id_priority ON work_queue (work_pool_id, priority);
CREATE INDEX ix_work_queue__updated ON work_queue (updated);
CREATE INDEX ix_work_queue__work_pool_id ON work_queue (work_pool_id);
CREATE INDEX ix_artifact__updated ON artifact (updated);
CREATE INDEX ix_artifact__flow_run_id ON artifact (flow_run_id);
CREATE INDEX ix_artifact__task_run_id ON artifact (task_run_id);
CREATE INDEX ix_flow_run__state_timestamp ON flow_run (state_timestamp);
CREATE INDEX ix_flow_run__name ON flow_run (name);
CREATE INDEX ix_flow_run_name_case_insensitive ON flow_run (name);
CREATE INDEX ix_flow_run__start_time ON flow_run (start_time);
CREATE INDEX ix_flow_run__parent_task_run_id ON flow_run (parent_task_run_id);
CREATE INDEX ix_flow_run__state_type ON flow_run (state_type);
CREATE INDEX ix_flow_run__state_name ON flow_run (state_name);
CREATE UNIQUE INDEX uq_flow_run__flow_id_idempotency_key ON flow_run (flow_id, idempotency_key);
CREATE INDEX ix_flow_run__end_time_desc ON flow_run (end_time);
CREATE INDEX ix_flow_run__expected_start_time_desc ON flow_run (expected_start_time);
CREATE INDEX ix_flow_run__next_scheduled_start_time_asc ON flow_run (next_scheduled_start_time);
CREATE INDEX ix_flow_run__state_id ON flow_run (state_id);
CREATE INDEX ix_flow_run__updated ON flow_run (updated);
CREATE INDEX ix_flow_run__infrastructure_document_id ON flow_run (infrastructure_document_id);
CREATE INDEX ix_flow_run__flow_version ON flow_run (flow_version);
CREATE INDEX ix_flow_run__work_queue_id ON flow_run (work_queue_id);
CREATE INDEX ix_flow_run__work_queue_name ON flow_run (work_queue_name);
CREATE INDEX ix_flow_run__flow_id ON flow_run (flow_id);
CREATE INDEX ix_artifact__key ON artifact ("key");
CREATE INDEX ix_artifact_collection__key_latest_id ON artifact_collection ("key", latest_id);
CREATE INDEX ix_concurrency_limit_v2__updated ON concurrency_limit_v2 (updated);
CREATE INDEX ix_log__flow_run_id_timestamp ON log (flow_run_id, timestamp);
CREATE INDEX ix_log__timestamp ON log (timestamp);
CREATE INDEX ix_log__flow_run_id ON log (flow_run_id);
CREATE INDEX ix_log__level ON log (level);
CREATE INDEX ix_log__updated ON log (updated);
CREATE INDEX ix_log__task_run_id ON log (task_run_id);
CREATE INDEX ix_block_document_name_case_insensitive on block_document (name COLLATE NOCASE);
CREATE INDEX ix_flow_run_input__updated ON flow_run_input (updated);
CREATE INDEX ix_csrf_token__updated ON csrf_token (updated);
CREATE INDEX ix_automation__updated ON automation (updated);
CREATE INDEX ix_automation_related_resource__resource_id ON automation_related_resource (resource_id);
CREATE INDEX ix_automation_related_resource__updated ON automation_related_resource (updated);
CREATE UNIQUE INDEX uq_automation_related_resource__automation_id__resource_id ON automation_related_resource (automation_id, resource_id);
CREATE INDEX ix_composite_trigger_child_firing__updated ON composite_trigger_child_firing (updated);
CREATE UNIQUE INDEX uq_composite_trigger_child_firing__a_id__pt_id__ct__id ON composite_trigger_child_firing (automation_id, parent_trigger_id, child_trigger_id);
CREATE INDEX ix_flow_run__deployment_version ON flow_run (deployment_version);
CREATE INDEX ix_automation_bucket__automation_id__end ON automation_bucket (automation_id, "end");
CREATE INDEX ix_automation_bucket__updated ON automation_bucket (updated);
CREATE UNIQUE INDEX uq_automation_bucket__automation_id__trigger_id__bucketing_key ON automation_bucket (automation_id, trigger_id, bucketing_key);
CREATE INDEX ix_event_resources__resource_id__occurred ON event_resources (resource_id, occurred);
CREATE INDEX ix_event_resources__updated ON event_resources (updated);
CREATE INDEX ix_events__event__id ON events (event, id);
CREATE INDEX ix_events__event_occurred_id ON events (event, occurred, id);
CREATE INDEX ix_events__event_related_occurred ON events (event, related, occurred);
CREATE INDEX ix_events__event_resource_id_occurred ON events (event, resource_id, occurred);
CREATE INDEX ix_events__occurred ON events (occurred);
CREATE INDEX ix_events__occurred_id ON events (occurred, id);
CREATE INDEX ix_events__related_resource_ids ON events (related_resource_ids);
CREATE INDEX ix_events__updated ON events (updated);
CREATE INDEX ix_variable__updated ON variable (updated);
CREATE INDEX ix_automation_event_follower__received ON automation_event_follower (received);
CREATE INDEX ix_automation_event_follower__leader_event_id ON automation_event_follower (leader_event_id);
CREATE INDEX ix_automation_event_follower__updated ON automation_event_follower (updated);
CREATE INDEX ix_automation_event_follower__scope ON automation_event_follower (scope);
CREATE UNIQUE INDEX uq_follower_for_scope ON automation_event_follower (scope, follower_event_id);
CREATE INDEX ix_artifact_collection__updated ON artifact_collection (updated);
CREATE INDEX ix_artifact__key_created_desc ON artifact ("key", created DESC);
CREATE INDEX ix_block_document__block_type_name__name ON block_document (block_type_name, name);
CREATE INDEX ix_deployment__updated ON deployment (updated);
CREATE INDEX ix_deployment__work_queue_id ON deployment (work_queue_id);
CREATE INDEX ix_deployment__flow_id ON deployment (flow_id);
CREATE INDEX ix_deployment__created ON deployment (created);
CREATE UNIQUE INDEX uq_deployment__flow_id_name ON deployment (flow_id, name);
CREATE INDEX ix_deployment__paused ON deployment (paused);
CREATE INDEX ix_deployment__work_queue_name ON deployment (work_queue_name);
CREATE INDEX ix_deployment_name_case_insensitive ON deployment (name);
CREATE INDEX ix_deployment_schedule__deployment_id ON deployment_schedule (deployment_id);
CREATE INDEX ix_deployment_schedule__updated ON deployment_schedule (updated);
CREATE INDEX ix_flow_run__scheduler_deployment_id_auto_scheduled_next_schedu ON flow_run (deployment_id, auto_scheduled, next_scheduled_start_time) WHERE state_type = 'SCHEDULED';
CREATE INDEX ix_deployment_schedule__slug ON deployment_schedule (slug);
CREATE UNIQUE INDEX ix_deployment_schedule__deployment_id__slug
        ON deployment_schedule(deployment_id, slug)
        WHERE slug IS NOT NULL;
CREATE INDEX ix_deployment_version__deployment_id ON deployment_version (deployment_id);
CREATE INDEX ix_deployment_version__updated ON deployment_version (updated);
CREATE INDEX ix_deployment_version__work_queue_id ON deployment_version (work_queue_id);
CREATE INDEX ix_deployment_version__work_queue_name ON deployment_version (work_queue_name);
CREATE UNIQUE INDEX uq_deployment_version__deployment__branch ON deployment_version (deployment_id, branch);
CREATE INDEX ix_deployment__version_id ON deployment (version_id);
CREATE INDEX ix_ae_follower_scope_leader ON automation_event_follower (scope, leader_event_id);
CREATE INDEX ix_task_run__state_timestamp ON task_run (state_timestamp);
CREATE INDEX ix_task_run__state_type ON task_run (state_type);
CREATE INDEX ix_task_run_name_case_insensitive ON task_run (name);
CREATE INDEX ix_task_run__start_time ON task_run (start_time);
CREATE INDEX ix_task_run__expected_start_time_desc ON task_run (expected_start_time);
CREATE INDEX ix_task_run__flow_run_id ON task_run (flow_run_id);
CREATE INDEX ix_task_run__name ON task_run (name);
CREATE INDEX ix_task_run__updated ON task_run (updated);
CREATE INDEX ix_task_run__next_scheduled_start_time_asc ON task_run (next_scheduled_start_time);
CREATE UNIQUE INDEX uq_task_run__flow_run_id_task_key_dynamic_key ON task_run (flow_run_id, task_key, dynamic_key);
CREATE INDEX ix_task_run__state_name ON task_run (state_name);
CREATE INDEX ix_task_run__state_id ON task_run (state_id);
CREATE INDEX ix_task_run__end_time_desc ON task_run (end_time);
CREATE INDEX ix_flow_run__schedule_id_scheduler
        ON flow_run (deployment_id, json_extract(created_by, '$.id'), next_scheduled_start_time)
        WHERE state_type = 'SCHEDULED' AND auto_scheduled = 1;
CREATE INDEX ix_task_run__state_type_start_time
        ON task_run (state_type, start_time)
        ;
CREATE INDEX ix_block_document_reference__updated ON block_document_reference (updated);
CREATE INDEX ix_event_resources__occurred
        ON event_resources (occurred)
        ;
CREATE INDEX ix_event_resources__event_id
        ON event_resources (event_id)
        ;
CREATE INDEX ix_flow_run__deployment_id
        ON flow_run (deployment_id)
        ;
CREATE INDEX ix_flow_run__state_type_coalesce_start_time
        ON flow_run (state_type, coalesce(start_time, expected_start_time))
        ;
CREATE UNIQUE INDEX uq_automation_held_event__trigger_key_event ON automation_held_event (automation_id, trigger_id, bucketing_key, event_id);
CREATE INDEX ix_automation_held_event__trigger_key_occurred ON automation_held_event (automation_id, trigger_id, bucketing_key, occurred, event_id);
CREATE INDEX ix_automation_held_event__updated ON automation_held_event (updated);
CREATE INDEX ix_flow_run_state__type_name_timestamp ON flow_run_state (type, name, timestamp);
CREATE INDEX ix_task_run_state__type_name_timestamp ON task_run_state (type, name, timestamp);
COMMIT;
