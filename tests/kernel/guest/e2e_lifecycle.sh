# The lifecycle scenario (tests/kernel/e2e_lifecycle_test.ts): a manifest directory with bad
# objects next to good ones, a rerun that must not write, then a service removed from the
# manifests. Sourced by the harness after lib.sh.
. "$GUEST_DIR/e2e_lib.sh"

set -e
pod_create pod-a 10.244.1.2 fd00:244::2
pod_create pod-b 10.244.1.3 fd00:244::3
pod_serve pod-a 8080
pod_serve pod-b 8080
ext_create ext-a 192.168.100.10 fd00:100::10
# The manifests on the guest's tmpfs, where the test may delete a file.
cp -r "$E2E_DATA/lifecycle" "$E2E_RUN/manifests"
set +e

M=$E2E_RUN/manifests
# Debug level: ignored kinds are reported at debug.
kipvs_once first --manifests "$M" --log-level debug
kipvs_once rerun --manifests "$M"
dump before

traffic() {
  echo "=== traffic $1"
  probe keep-a client tcp 10.96.1.10 80 --count 2
  probe keep-a-external client_in ext-a tcp 198.51.100.40 80 --count 2
  probe keep-b6 client udp fd00:96::1:11 53 --count 2
  probe gone client tcp 10.96.1.20 80 --timeout 1
  probe gone6 client tcp fd00:96::1:20 80 --timeout 1
  probe gone-nodeport client_in ext-a tcp 192.168.100.1 30091 --timeout 1
  probe gone-external client_in ext-a tcp 198.51.100.41 80 --timeout 1
}
traffic before

rm "$M/gone.yaml"
kipvs_once removed --manifests "$M"
dump after
traffic after
