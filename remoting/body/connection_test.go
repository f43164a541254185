package body

import (
	"encoding/json"
	"testing"
)

// TestConnectionJSON pins the field names of the connection bodies to
// Java's (ConsumerConnection, ProducerConnection, Connection,
// SubscriptionData), in fastjson's alphabetical order.
func TestConnectionJSON(t *testing.T) {
	conn := Connection{ClientAddr: "10.0.0.1:5000", ClientID: "10.0.0.1@1", Language: "JAVA", Version: 409}
	cc := ConsumerConnection{ConnectionSet: []Connection{conn}, ConsumeFromWhere: "CONSUME_FROM_LAST_OFFSET", ConsumeType: "CONSUME_PASSIVELY",
		MessageModel: "CLUSTERING", SubscriptionTable: map[string]SubscriptionData{"T": {CodeSet: []int32{97}, ExpressionType: "TAG",
			SubString: "a", SubVersion: 5, TagsSet: []string{"a"}, Topic: "T"}}}
	connJSON := `{"clientAddr":"10.0.0.1:5000","clientId":"10.0.0.1@1","language":"JAVA","version":409}`
	for _, c := range []struct {
		v    any
		want string
	}{
		{cc, `{"connectionSet":[` + connJSON + `],"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY",` +
			`"messageModel":"CLUSTERING","subscriptionTable":{"T":{"classFilterMode":false,"codeSet":[97],"expressionType":"TAG",` +
			`"subString":"a","subVersion":5,"tagsSet":["a"],"topic":"T"}}}`},
		{ProducerConnection{ConnectionSet: []Connection{conn}}, `{"connectionSet":[` + connJSON + `]}`},
	} {
		got, err := json.Marshal(c.v)
		if err != nil || string(got) != c.want {
			t.Errorf("got  %s (%v)\nwant %s", got, err, c.want)
		}
	}
}
