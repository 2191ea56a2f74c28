# Read from the pom so that the versions are written down once.
_pom="$(dirname "${BASH_SOURCE[0]}")/pom.xml"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$_pom")"
APICURIO_VERSION="$(sed -n 's:.*<apicurio.version>\(.*\)</apicurio.version>.*:\1:p' "$_pom")"
