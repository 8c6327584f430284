"""designers"""
