"""The API calls an ec2lab playbook makes, made directly with boto3 in one process: the floors
bench/run compares the playbooks against. Not product code.

  launch  what launch.yml calls on an empty account (creates everything)
  reads   the read calls a launch.yml re-run with nothing to do must make
  status  what status.yml reads for the workstations of a region (Pricing API off)
  stop    find the workstation, stop it          start   find it, check the quota, start it, read its new address

Usage: bench/boto3_floor.py MODE [NAME]
"""

import json
import sys

import boto3

mode = sys.argv[1]
name = sys.argv[2] if len(sys.argv) > 2 else "bench"
cidr = "203.0.113.10/32"
session = boto3.session.Session()
ec2, s3, iam, sts = (session.client(s) for s in ("ec2", "s3", "iam", "sts"))
tags = [{"Key": "ec2lab:name", "Value": name}, {"Key": "ec2lab:owner", "Value": "bench"}]
mine = [{"Name": "tag:ec2lab:name", "Values": [name]},
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]


def account_check():
    """Every playbook first checks the credentials and the region."""
    ec2.describe_regions()
    return sts.get_caller_identity()["Account"]


def quota_check(instance_type="t3.medium"):
    """launch (a new instance) and start (a stopped one): the vCPU quota of its class, what runs."""
    ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}])
    ec2.describe_instance_types(InstanceTypes=[instance_type])
    session.client("service-quotas").get_service_quota(ServiceCode="ec2", QuotaCode="L-1216C47A")


def reads():
    account = account_check()
    ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [f"ec2lab-{name}"]}])
    ec2.describe_volumes(Filters=[{"Name": "tag:ec2lab:name", "Values": [name]}])
    ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])
    ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"ec2lab-{name}"]}])
    bucket = f"ec2lab-{name}-{account}"
    s3.get_bucket_tagging(Bucket=bucket)
    s3.get_bucket_encryption(Bucket=bucket)
    s3.get_public_access_block(Bucket=bucket)
    iam.get_role(RoleName=f"ec2lab-{name}")
    iam.list_role_policies(RoleName=f"ec2lab-{name}")
    iam.get_instance_profile(InstanceProfileName=f"ec2lab-{name}")
    ec2.describe_images(Owners=["099720109477"], Filters=[
        {"Name": "name", "Values": ["ubuntu/images/hvm-ssd*/ubuntu-*-24.04-*-server-*"]},
        {"Name": "architecture", "Values": ["x86_64"]}])
    ec2.describe_instances(Filters=mine)


def status():
    account_check()
    ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["ec2lab-*"]}])  # their SSH rules
    ec2.describe_instances(Filters=[{"Name": "tag-key", "Values": ["ec2lab:name"]}])
    ec2.describe_volumes(Filters=[{"Name": "tag:ec2lab:role", "Values": ["data"]}])


def stop():
    account_check()
    ids = [i["InstanceId"] for r in ec2.describe_instances(Filters=mine)["Reservations"] for i in r["Instances"]]
    ec2.stop_instances(InstanceIds=ids)


def start():
    account_check()
    ids = [i["InstanceId"] for r in ec2.describe_instances(Filters=mine)["Reservations"] for i in r["Instances"]]
    quota_check()
    ec2.start_instances(InstanceIds=ids)
    ec2.describe_instances(InstanceIds=ids)


def launch():
    account = sts.get_caller_identity()["Account"]
    ec2.describe_regions()
    quota_check()
    ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [f"ec2lab-{name}"]}])
    ec2.create_key_pair(KeyName=f"ec2lab-{name}", KeyType="ed25519")
    ec2.describe_volumes(Filters=[{"Name": "tag:ec2lab:name", "Values": [name]}])
    subnet = sorted(ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"],
                    key=lambda s: s["AvailabilityZone"])[0]
    volume = ec2.create_volume(AvailabilityZone=subnet["AvailabilityZone"], Size=20, VolumeType="gp3", Encrypted=True,
                               TagSpecifications=[{"ResourceType": "volume", "Tags": tags}])
    group = ec2.create_security_group(GroupName=f"ec2lab-{name}", Description="bench", VpcId=subnet["VpcId"])
    ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": cidr}]}])
    bucket = f"ec2lab-{name}-{account}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": session.region_name})
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        k: True for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")})
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    iam.create_role(RoleName=f"ec2lab-{name}", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName=f"ec2lab-{name}", PolicyName="ec2lab-bucket", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": f"arn:aws:s3:::{bucket}"}]}))
    iam.create_instance_profile(InstanceProfileName=f"ec2lab-{name}")
    iam.add_role_to_instance_profile(InstanceProfileName=f"ec2lab-{name}", RoleName=f"ec2lab-{name}")
    images = ec2.describe_images(Owners=["099720109477"], Filters=[
        {"Name": "name", "Values": ["ubuntu/images/hvm-ssd*/ubuntu-*-*.04-*-server-*"]},
        {"Name": "architecture", "Values": ["x86_64"]}])["Images"]
    image = max(images, key=lambda i: i["Name"])
    ec2.describe_instances(Filters=[{"Name": "tag:ec2lab:name", "Values": [name]}])
    instance = ec2.run_instances(ImageId=image["ImageId"], InstanceType="t3.medium", MinCount=1, MaxCount=1,
                                 KeyName=f"ec2lab-{name}", IamInstanceProfile={"Name": f"ec2lab-{name}"},
                                 NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet["SubnetId"],
                                                     "Groups": [group["GroupId"]], "AssociatePublicIpAddress": True}],
                                 MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
                                 BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {
                                     "VolumeSize": 16, "VolumeType": "gp3", "Encrypted": True, "DeleteOnTermination": True}}],
                                 TagSpecifications=[{"ResourceType": "instance", "Tags": tags + [{"Key": "Name", "Value": name}]}]
                                 )["Instances"][0]
    ec2.get_waiter("instance_running").wait(InstanceIds=[instance["InstanceId"]], WaiterConfig={"Delay": 1})
    ec2.attach_volume(VolumeId=volume["VolumeId"], InstanceId=instance["InstanceId"], Device="/dev/sdf")


{"launch": launch, "reads": reads, "status": status, "stop": stop, "start": start}[mode]()
