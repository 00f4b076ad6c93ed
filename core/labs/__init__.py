"""The Learn labs' maths: pure torch/numpy computations, no Streamlit and no prose."""
