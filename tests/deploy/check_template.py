#!/usr/bin/env python3
"""Checks the invariants that tie deploy/cloudformation/tollgate-gwlb.yaml to
the code and configs: nobody here can deploy it, so everything that can be
checked locally is.

usage: check_template.py TEMPLATE ETC_DIR
  ETC_DIR: the packaged /etc/tollgate (dataplane.toml, control.toml), on
  which the user data's config edits are replayed.

Needs PyYAML (cfn-lint's venv has it). Prints one line per failed check and
exits 1, or "template: N checks passed".
"""
import os
import re
import subprocess
import sys
import tempfile
import tomllib

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Tag:
    """A CloudFormation intrinsic (!Ref, !Sub, ...) kept as a value."""

    def __init__(self, name, value):
        self.name, self.value = name, value

    def __repr__(self):
        return f"!{self.name} {self.value!r}"


def tag_constructor(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return Tag(suffix, value)


yaml.SafeLoader.add_multi_constructor("!", tag_constructor)

failures = []
checks = 0


def check(ok, message):
    global checks
    checks += 1
    if not ok:
        failures.append(message)


def main():
    template_path, etc_dir = sys.argv[1], sys.argv[2]
    with open(template_path) as f:
        t = yaml.safe_load(f)
    mappings, res = t["Mappings"], t["Resources"]

    def resolve(v):
        """!FindInMap and plain values; other intrinsics as they are."""
        if isinstance(v, Tag) and v.name == "FindInMap":
            a, b, c = v.value
            return mappings[a][b][c]
        return v

    def of_type(kind):
        return {k: r for k, r in res.items() if r["Type"] == kind}

    with open(os.path.join(ROOT, "configs/control.toml"), "rb") as f:
        control = tomllib.load(f)
    with open(os.path.join(ROOT, "configs/dataplane.toml"), "rb") as f:
        dataplane = tomllib.load(f)

    # GWLB: a gateway load balancer in two subnets of different AZs.
    lbs = of_type("AWS::ElasticLoadBalancingV2::LoadBalancer")
    check(len(lbs) == 1, f"one load balancer expected, found {len(lbs)}")
    lb = next(iter(lbs.values()))["Properties"]
    check(lb.get("Type") == "gateway", "load balancer Type is not gateway")
    azs = {repr(res[s.value]["Properties"]["AvailabilityZone"]) for s in lb["Subnets"]}
    check(len(lb["Subnets"]) == 2 and len(azs) == 2, "GWLB is not in two subnets of two AZs")

    # Target group: GENEVE on the port the dataplane decapsulates.
    tgs = of_type("AWS::ElasticLoadBalancingV2::TargetGroup")
    check(len(tgs) == 1, f"one target group expected, found {len(tgs)}")
    tg_name, tg = next(iter(tgs.items()))
    tg = tg["Properties"]
    wire_port = None
    for dirpath, _, files in os.walk(os.path.join(ROOT, "wire/src")):
        for name in files:
            with open(os.path.join(dirpath, name)) as f:
                m = re.search(r"GENEVE_UDP_PORT\s*:\s*u16\s*=\s*(\d+)", f.read())
            if m:
                wire_port = int(m.group(1))
    check(wire_port == 6081, f"wire's GENEVE_UDP_PORT is {wire_port}, not 6081")
    check(tg.get("Protocol") == "GENEVE", "target group Protocol is not GENEVE")
    check(int(resolve(tg.get("Port"))) == 6081, "target group Port is not 6081")

    # Health check: what tollgate-control answers (configs/control.toml).
    health = control["health"]
    check(str(resolve(tg["HealthCheckProtocol"])).lower() == health["protocol"],
          f"health check protocol {resolve(tg['HealthCheckProtocol'])} != control's {health['protocol']}")
    check(int(resolve(tg["HealthCheckPort"])) == health["port"],
          f"health check port {resolve(tg['HealthCheckPort'])} != control's {health['port']}")
    check(resolve(tg["HealthCheckPath"]) == health["path"],
          f"health check path {resolve(tg['HealthCheckPath'])} != control's {health['path']}")
    check(str(tg.get("Matcher", {}).get("HttpCode")) == "200",
          "health check must accept only 200 (control answers 503 when unhealthy)")
    check(2 <= tg["HealthCheckTimeoutSeconds"] < tg["HealthCheckIntervalSeconds"],
          "health check timeout must be at least 2 s and below the interval")
    attrs = {a["Key"]: a["Value"] for a in tg["TargetGroupAttributes"]}
    check("deregistration_delay.timeout_seconds" in attrs, "no deregistration delay set")
    check(repr(attrs.get("target_failover.on_deregistration")) == repr(attrs.get("target_failover.on_unhealthy"))
          and "target_failover.on_unhealthy" in attrs,
          "target_failover.on_deregistration and on_unhealthy must be set alike")

    # Security group: GENEVE and the health check port reach the data ENI.
    sg = res["DataSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    open_ports = {(r["IpProtocol"], int(resolve(r["FromPort"]))) for r in sg if r["IpProtocol"] != "icmp"}
    check(("udp", 6081) in open_ports, "data security group does not admit UDP 6081")
    check(("tcp", health["port"]) in open_ports, "data security group does not admit the health check port")

    # MTU: GWLB's 8500-byte inner packets + 68 bytes fit, within the dataplane's range.
    mtu = int(mappings["Appliance"]["Mtu"]["Data"])
    check(8568 <= mtu <= 9216, f"data MTU {mtu} is not within 8568-9216")
    check(mtu == dataplane["port"]["mtu"], f"data MTU {mtu} != configs/dataplane.toml's {dataplane['port']['mtu']}")

    # Endpoint service and one GWLB endpoint per workload VPC and AZ, routed to.
    services = of_type("AWS::EC2::VPCEndpointService")
    check(len(services) == 1, "one VPC endpoint service expected")
    service_name = next(iter(services))
    endpoints = {k: r["Properties"] for k, r in of_type("AWS::EC2::VPCEndpoint").items()
                 if r["Properties"].get("VpcEndpointType") == "GatewayLoadBalancer"}
    per_vpc = {}
    for name, ep in endpoints.items():
        check(service_name in repr(ep["ServiceName"]), f"{name} does not use the endpoint service")
        subnet = res[ep["SubnetIds"][0].value]["Properties"]
        per_vpc.setdefault(ep["VpcId"].value, set()).add(repr(subnet["AvailabilityZone"]))
    check(sorted(per_vpc) == ["Vpc01", "Vpc02"], f"GWLB endpoints in {sorted(per_vpc)}, want Vpc01 and Vpc02")
    check(all(len(a) == 2 for a in per_vpc.values()), "each workload VPC needs a GWLB endpoint in each AZ")
    routed = {r["Properties"]["VpcEndpointId"].value for r in of_type("AWS::EC2::Route").values()
              if "VpcEndpointId" in r["Properties"]}
    check(routed == set(endpoints), f"endpoints without routes: {sorted(set(endpoints) - routed)}")
    edges = of_type("AWS::EC2::GatewayRouteTableAssociation")
    check(len(edges) == 2, "each workload VPC's IGW needs an ingress (edge) route table")

    # Auto Scaling: ELB health checks, the target group, and a termination
    # hook long enough for the drain.
    delay_max = t["Parameters"]["DeregistrationDelay"]["MaxValue"]
    groups = of_type("AWS::AutoScaling::AutoScalingGroup")
    check(len(groups) == 2, "one Auto Scaling group per AZ expected")
    hook_names = set()
    for name, g in groups.items():
        p = g["Properties"]
        check(p.get("HealthCheckType") == "ELB", f"{name}: HealthCheckType is not ELB")
        check([x.value for x in p.get("TargetGroupARNs", [])] == [tg_name], f"{name}: not attached to the target group")
        hooks = [h for h in p.get("LifecycleHookSpecificationList", [])
                 if h["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_TERMINATING"]
        check(len(hooks) == 1, f"{name}: no termination lifecycle hook")
        for h in hooks:
            hook_names.add(h["LifecycleHookName"])
            check(h["HeartbeatTimeout"] >= delay_max + 60,
                  f"{name}: hook timeout {h['HeartbeatTimeout']} s shorter than the longest drain")
            check(h["DefaultResult"] == "CONTINUE", f"{name}: a stuck hook must not block termination")

    # The user data: drains through tollgatectl, completes the same hook,
    # parses as bash, and its config edits give valid configs.
    body = mappings["UserData"]["Script"]["Body"]
    check("tollgatectl drain" in body, "user data does not run tollgatectl drain")
    check("complete-lifecycle-action" in body, "user data does not complete the lifecycle action")
    check("target-lifecycle-state" in body, "user data does not watch the lifecycle state")
    # host-prep refuses to bind the interface holding the default route.
    check(body.index('ip route replace default via "$mgmt_gw" dev "$mgmt_if"') < body.index("systemctl enable"),
          "user data does not move the default route to the management ENI before enabling the units")
    for lt in of_type("AWS::EC2::LaunchTemplate").values():
        text = repr(lt["Properties"]["LaunchTemplateData"]["UserData"])
        for hook in hook_names:
            check(f"HOOK_NAME={hook}" in text, f"launch template user data does not name hook {hook}")
        nis = lt["Properties"]["LaunchTemplateData"]["NetworkInterfaces"]
        check([n["DeviceIndex"] for n in nis] == [0, 1], "launch template needs a data ENI (0) and a management ENI (1)")
    exports = "export PACKAGE_URL=x RULES_LOCATION=s3://b/k RULES_REFRESH_MINUTES=5 FLOW_CAPACITY=1 DRAIN_WAIT_SECONDS=1 HOOK_NAME=h ASG_NAME=a DATA_MTU=1 HEALTH_PORT=1 HEALTH_PATH=/\n"
    syntax = subprocess.run(["bash", "-n"], input=exports + body, text=True, capture_output=True)
    check(syntax.returncode == 0, f"user data is not valid bash: {syntax.stderr.strip()}")

    start = body.index("# Configs from the packaged examples")
    end = body.index("# Most EC2 instance types")
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("dataplane.toml", "control.toml"):
            with open(os.path.join(etc_dir, name)) as src, open(os.path.join(tmp, name), "w") as dst:
                dst.write(src.read())
        env = dict(os.environ, data_pci="0000:00:05.0", data_ip="10.254.11.23",
                   data_cidr="10.254.11.0/24", mgmt_ip="10.254.1.23", FLOW_CAPACITY="2000000",
                   DATA_MTU=str(mtu), HEALTH_PORT=str(resolve(tg["HealthCheckPort"])),
                   HEALTH_PATH=str(resolve(tg["HealthCheckPath"])))
        script = "set -euo pipefail\n" + body[start:end].replace("/etc/tollgate/", tmp + "/")
        run = subprocess.run(["bash", "-c", script], env=env, text=True, capture_output=True)
        check(run.returncode == 0, f"user data config edits failed: {run.stderr.strip()}")
        with open(os.path.join(tmp, "dataplane.toml"), "rb") as f:
            dp = tomllib.load(f)
        with open(os.path.join(tmp, "control.toml"), "rb") as f:
            ct = tomllib.load(f)
        with open(os.path.join(etc_dir, "dataplane.toml"), "rb") as f:
            packaged = tomllib.load(f)
        check(dp["port"]["device"] == "0000:00:05.0", "user data did not set [port] device")
        check("0000:00:05.0,large_llq_hdr=1" in dp["eal"]["args"], "user data did not allow the ENA with large_llq_hdr=1")
        check("--in-memory" in dp["eal"]["args"], "user data's EAL args leave hugepage files behind (no --in-memory)")
        check(dp["port"]["mtu"] == mtu, "user data did not set the MTU")
        check(dp["appliance"]["address"] == "10.254.11.23", "user data did not set the appliance address")
        check(dp["appliance"]["gwlb_addresses"] == ["10.254.11.0/24"], "user data did not set gwlb_addresses")
        check(dp["firewall"]["flow_capacity"] == 2000000, "user data did not set flow_capacity")
        check(dp["worker"]["idle_sleep_us"] == 0, "user data did not make the workers poll")
        check(set(dp) == set(packaged) and all(set(dp[s]) == set(packaged[s]) for s in dp),
              "user data changed the dataplane config's keys")
        check(ct["metrics"]["listen"] == "10.254.1.23:9469", "user data did not put metrics on the management address")
        check(ct["health"]["port"] == health["port"] and ct["health"]["path"] == health["path"],
              "user data's health check edits do not match the target group")
        check(ct["api"]["socket"] == "/run/tollgate/control.sock", "control socket is not under RuntimeDirectory=tollgate")

    for f in failures:
        print(f"template: {f}")
    if failures:
        sys.exit(1)
    print(f"template: {checks} checks passed")


if __name__ == "__main__":
    main()
