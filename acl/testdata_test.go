package acl

// sampleYAML is a plain_acl.yml as RocketMQ ships it (conf/plain_acl.yml),
// with a third account for the tests: unquoted numeric secrets, comments,
// an empty whiteRemoteAddress and a dataVersion block RocketMQ writes back.
const sampleYAML = `globalWhiteRemoteAddresses:
  - 10.10.103.*
  - 192.168.0.*

accounts:
  - accessKey: RocketMQ
    secretKey: 12345678
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - topicA=DENY
      - topicB=PUB|SUB
      - topicC=SUB
    groupPerms:
      # the group should convert to retry topic
      - groupA=DENY
      - groupB=PUB|SUB
      - groupC=SUB

  - accessKey: rocketmq2
    secretKey: 12345678
    whiteRemoteAddress: 192.168.1.*
    # if it is admin, it could access all resources
    admin: true

  - accessKey: pubdefault
    secretKey: "s3cret-pub"
    defaultTopicPerm: PUB
    defaultGroupPerm: SUB
    topicPerms:
      - denied=DENY
dataVersion:
  - counter: 1
    timestamp: 1600000000000
`
