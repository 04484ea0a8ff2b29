#!/bin/sh
# Greets whoever runs the image; GREETING comes from the image config (pd.yaml).
echo "${GREETING:-hello} from $(cat /etc/pd-example/name)"
