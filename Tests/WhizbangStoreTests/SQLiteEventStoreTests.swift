import Testing
import WhizbangStore
