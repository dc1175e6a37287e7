"""The Streamlit cost explorer."""
