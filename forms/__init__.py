"""WTForms classes, one module per domain. Forms import models, never views."""
