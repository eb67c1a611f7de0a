"""Monitoring live traffic from data capture: confidence, class mix, drift against evaluation."""
