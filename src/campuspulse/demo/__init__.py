"""`campuspulse demo`: a simulated campus running through the real agent, broker, collector and server."""
