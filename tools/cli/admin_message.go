package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/wharfmq/wharf/tools/admin"
)

func newAdminMessage(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "message", Short: "find messages by key, id or queue offset"}
	var bodyBytes int
	cmd.PersistentFlags().IntVar(&bodyBytes, "body-bytes", 256, "how much of each body to show")
	cmd.AddCommand(newMessageKey(f, &bodyBytes), newMessageID(f, &bodyBytes), newMessageOffset(f, &bodyBytes))
	return cmd
}

func newMessageKey(f *adminFlags, bodyBytes *int) *cobra.Command {
	var broker string
	var maxNum int
	cmd := &cobra.Command{
		Use:   "key TOPIC KEY",
		Short: "find a topic's messages by key (KEYS or client message id) on every broker of the topic (QUERY_MESSAGE)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(ctx context.Context, c *admin.Client) error {
				ms, err := c.MessagesByKey(ctx, args[0], args[1], broker, maxNum)
				if err != nil {
					return err
				}
				return printMessages(cmd, f, ms, *bodyBytes)
			})
		},
	}
	cmd.Flags().StringVarP(&broker, "broker", "b", "", "ask this broker only")
	cmd.Flags().IntVar(&maxNum, "max", admin.DefaultMaxMessages, "at most this many messages per broker")
	return cmd
}

func newMessageID(f *adminFlags, bodyBytes *int) *cobra.Command {
	var broker, topic string
	cmd := &cobra.Command{
		Use:   "id MSGID",
		Short: "show a message by its offset message id (VIEW_MESSAGE_BY_ID), or by client id with --topic",
		Long: `Show a message by id. An offset message id (the broker's msgId, Go's
OffsetMsgId) names the broker and CommitLog offset; -b asks another address.
With --topic the id is first looked up as a client message id (UNIQ_KEY,
the Go client's MsgId) on the topic's brokers (QUERY_MESSAGE).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(ctx context.Context, c *admin.Client) error {
				ms, err := c.MessageByID(ctx, args[0], topic, broker)
				if err != nil {
					return err
				}
				return printMessages(cmd, f, ms, *bodyBytes)
			})
		},
	}
	cmd.Flags().StringVarP(&broker, "broker", "b", "", "broker address to ask")
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic, to look the id up as a client message id")
	return cmd
}

// messageView is a message as --json prints it: the body as a bounded
// preview.
type messageView struct {
	admin.Message
	BodySize    int    `json:"bodySize"`
	BodyPreview string `json:"bodyPreview"`
}

func printMessages(cmd *cobra.Command, f *adminFlags, ms []admin.Message, bodyBytes int) error {
	views := make([]messageView, len(ms))
	for i := range ms {
		m := &ms[i]
		b, err := m.BodyPrefix(max(bodyBytes, 0))
		var p string
		if m.Compressed {
			// The inflated size is unknown without inflating it all.
			p = preview(b, len(b))
			if len(b) == bodyBytes {
				p += fmt.Sprintf(" ... (first %d bytes inflated)", len(b))
			}
		} else {
			p = preview(b, len(m.Body))
		}
		if err != nil {
			p = fmt.Sprintf("(%v) %s", err, p)
		}
		views[i] = messageView{Message: *m, BodySize: len(m.Body), BodyPreview: p}
	}
	return f.print(cmd, views, func(w *tabwriter.Writer) {
		for i, v := range views {
			if i > 0 {
				fmt.Fprintln(w, "\t")
			}
			fmt.Fprintf(w, "Msg ID:\t%s\n", v.MsgID)
			if id := v.ClientID(); id != "" {
				fmt.Fprintf(w, "Client ID:\t%s\n", id)
			}
			fmt.Fprintf(w, "Topic:\t%s\n", v.Topic)
			fmt.Fprintf(w, "Tags:\t%s\n", dash(v.Properties["TAGS"]))
			fmt.Fprintf(w, "Keys:\t%s\n", dash(v.Properties["KEYS"]))
			fmt.Fprintf(w, "Queue:\t%d, offset %d\n", v.QueueID, v.QueueOffset)
			fmt.Fprintf(w, "CommitLog offset:\t%d\n", v.CommitLogOffset)
			fmt.Fprintf(w, "Broker:\t%s\n", v.Broker)
			fmt.Fprintf(w, "Born:\t%s from %s\n", fmtTime(v.BornTimestamp), v.BornHost)
			fmt.Fprintf(w, "Stored:\t%s on %s\n", fmtTime(v.StoreTimestamp), v.StoreHost)
			fmt.Fprintf(w, "Reconsume times:\t%d\n", v.ReconsumeTimes)
			fmt.Fprintf(w, "Flag / sysFlag:\t%d / %#x\n", v.Flag, v.SysFlag)
			fmt.Fprintf(w, "Body CRC:\t%d\n", v.BodyCRC)
			fmt.Fprintln(w, "Properties:\t")
			for _, k := range sortedKeys(v.Properties) {
				fmt.Fprintf(w, "  %s\t%s\n", k, v.Properties[k])
			}
			size := fmt.Sprintf("%d bytes", v.BodySize)
			if v.Compressed {
				size += " compressed"
			}
			fmt.Fprintf(w, "Body:\t%s: %s\n", size, v.BodyPreview)
		}
	})
}
