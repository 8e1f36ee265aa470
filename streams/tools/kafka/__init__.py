"""Build files for the local Kafka broker (pom.xml, log4j.properties)."""
