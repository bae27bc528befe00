//! The OpenAPI 3.1 document served at `GET /openapi.json`. A test checks that every route the router
//! serves is described here, so the document cannot drift from the server.

use serde_json::{Value, json};

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

/// The document.
pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "freshet feature server",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Online features, Feast-compatible. Errors are {code, message} JSON."
        },
        "paths": {
            "/get-online-features": {"post": {
                "summary": "Feature values of entities as of now (Feast-compatible)",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OnlineFeaturesRequest"}}}},
                "responses": {
                    "200": {"description": "Column-major values, statuses and event timestamps; join keys first",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OnlineFeaturesResponse"}}}},
                    "400": error_response("Malformed JSON, unknown feature, view or service, missing or mistyped join key"),
                    "401": error_response("Authentication is on and no valid bearer token was given"),
                    "413": error_response("Body, entities or features over the configured limits"),
                    "503": error_response("The online store does not answer")
                }
            }},
            "/push": {"post": {
                "summary": "Push events to a push source (Feast-compatible); a following lookup sees them",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PushRequest"}}}},
                "responses": {
                    "200": {"description": "Accepted: {status, events}"},
                    "400": error_response("Unknown push source or column, a value of the wrong type, a missing key or event time"),
                    "401": error_response("Authentication is on and no valid bearer token was given"),
                    "413": error_response("Body or rows over the configured limits"),
                    "503": error_response("The online store or event log does not answer")
                }
            }},
            "/predict": {"post": {
                "summary": "Predict with a model's production version from the entities' online features",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}}},
                "responses": {
                    "200": {"description": "Predictions", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictResponse"}}}},
                    "400": error_response("Malformed entities or request-time values, or an input the model does not read"),
                    "401": error_response("Authentication is on and no valid bearer token was given"),
                    "404": error_response("The project has no such model"),
                    "409": error_response("The model has no production version, or its features changed since training"),
                    "413": error_response("Body or entities over the configured limits"),
                    "503": error_response("The online store does not answer")
                }
            }},
            "/health": {"get": {
                "summary": "200 when the online store answers, 503 otherwise",
                "responses": {"200": {"description": "Healthy"}, "503": error_response("The online store does not answer")}
            }},
            "/metrics": {"get": {
                "summary": "Prometheus metrics",
                "responses": {"200": {"description": "OpenMetrics text", "content": {"application/openmetrics-text": {}}}}
            }},
            "/openapi.json": {"get": {
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}}
            }}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"}}},
                "OnlineFeaturesRequest": {"type": "object", "required": ["entities"], "properties": {
                    "features": {"type": "array", "items": {"type": "string", "examples": ["driver_stats:trips_24h"]}},
                    "feature_service": {"type": "string"},
                    "entities": {"type": "object", "additionalProperties": {"type": "array"},
                                 "examples": [{"driver_id": [1001, 1002]}]},
                    "full_feature_names": {"type": "boolean", "default": false}}},
                "PredictRequest": {"type": "object", "required": ["model", "entities"], "properties": {
                    "model": {"type": "string", "examples": ["churn"]},
                    "entities": {"type": "object", "additionalProperties": {"type": "array"},
                                 "examples": [{"driver_id": [1001, 1002]}]},
                    "features": {"type": "object", "description": "Request-time values overriding the store's, view:feature to one value per entity",
                                 "additionalProperties": {"type": "array"}, "examples": [{"driver_trips:trips_24h": [0, 3]}]},
                    "return_features": {"type": "boolean", "default": false}}},
                "PredictResponse": {"type": "object", "required": ["model", "version", "predictions"], "properties": {
                    "model": {"type": "string"}, "version": {"type": "integer"},
                    "predictions": {"type": "array", "items": {"type": "number"}},
                    "features": {"type": "object", "properties": {
                        "names": {"type": "array", "items": {"type": "string"}},
                        "values": {"type": "array", "items": {"type": "array", "items": {"type": ["number", "null"]}}}}}}},
                "PushRequest": {"type": "object", "required": ["push_source_name", "df"], "properties": {
                    "push_source_name": {"type": "string"},
                    "df": {"type": "object", "additionalProperties": {"type": "array"},
                           "examples": [{"driver_id": [1001], "event_time": ["2026-01-01T00:00:00Z"], "fare": [12.5]}]},
                    "to": {"enum": ["online", "offline", "online_and_offline"], "default": "online"}}},
                "OnlineFeaturesResponse": {"type": "object", "properties": {
                    "metadata": {"type": "object", "properties": {"feature_names": {"type": "array", "items": {"type": "string"}}}},
                    "results": {"type": "array", "items": {"type": "object", "properties": {
                        "values": {"type": "array"},
                        "statuses": {"type": "array", "items": {"enum": ["PRESENT", "NULL_VALUE", "NOT_FOUND", "OUTSIDE_MAX_AGE"]}},
                        "event_timestamps": {"type": "array", "items": {"type": "string", "format": "date-time"}}}}}}}
            }
        }
    })
}
