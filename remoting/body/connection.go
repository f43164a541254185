package body

// Connection is Java's Connection: one client connection of a producer or
// consumer group, as GET_CONSUMER_CONNECTION_LIST and
// GET_PRODUCER_CONNECTION_LIST list it.
type Connection struct {
	ClientAddr string `json:"clientAddr"`
	ClientID   string `json:"clientId"`
	Language   string `json:"language"` // LanguageCode name, e.g. "JAVA", "GO"
	Version    int    `json:"version"`  // the client's MQVersion ordinal
}

// SubscriptionData is Java's SubscriptionData as a broker reports it back
// (ConsumerConnection.subscriptionTable). CodeSet is written empty: Wharf
// filters by tag strings, never by the client's hash codes.
type SubscriptionData struct {
	ClassFilterMode bool     `json:"classFilterMode"`
	CodeSet         []int32  `json:"codeSet"`
	ExpressionType  string   `json:"expressionType"`
	SubString       string   `json:"subString"`
	SubVersion      int64    `json:"subVersion"`
	TagsSet         []string `json:"tagsSet"`
	Topic           string   `json:"topic"`
}

// ConsumerConnection is Java's ConsumerConnection: a consumer group's live
// connections and subscriptions (GET_CONSUMER_CONNECTION_LIST).
type ConsumerConnection struct {
	ConnectionSet     []Connection                `json:"connectionSet"`
	ConsumeFromWhere  string                      `json:"consumeFromWhere"`
	ConsumeType       string                      `json:"consumeType"`
	MessageModel      string                      `json:"messageModel"`
	SubscriptionTable map[string]SubscriptionData `json:"subscriptionTable"`
}

// ProducerConnection is Java's ProducerConnection: a producer group's live
// connections (GET_PRODUCER_CONNECTION_LIST).
type ProducerConnection struct {
	ConnectionSet []Connection `json:"connectionSet"`
}
