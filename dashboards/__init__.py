"""The planners' Streamlit dashboard (entry point: dashboards/app.py)."""
