// The real-Kafka tests' admin client (scripts/kafka topics|wait|describe|
// move-leaders), run as a single-file program on the class path Maven
// resolved: `java -cp CP tests/kafka/Admin.java BOOTSTRAP COMMAND ARGS`.
//
//   wait BROKERS SECONDS         until the cluster has BROKERS brokers and a controller
//   create NAME:PARTITIONS[:RF][:key=value,...] ...
//                                creates topics (an existing one is left as it is)
//   describe NAME ...            one JSON line per topic: config and partitions
//                                (leader, replicas, in-sync replicas)
//   move-leaders NAME ...        makes the next replica of every partition its
//                                leader (reassignment, then preferred election)
//   end-offsets NAME             the sum of the partitions' end offsets (records
//                                ever written, compacted or not)
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.TopicExistsException;

public class Admin {
  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: Admin BOOTSTRAP wait|create|describe|move-leaders ARGS");
      System.exit(2);
    }
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "5000");
    p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "20000");
    List<String> rest = Arrays.asList(args).subList(2, args.length);
    try (AdminClient admin = AdminClient.create(p)) {
      switch (args[1]) {
        case "wait" -> waitCluster(admin, Integer.parseInt(rest.get(0)), Integer.parseInt(rest.get(1)));
        case "create" -> create(admin, rest);
        case "describe" -> describe(admin, rest);
        case "move-leaders" -> moveLeaders(admin, rest);
        case "end-offsets" -> endOffsets(admin, rest.get(0));
        default -> {
          System.err.println("unknown command " + args[1]);
          System.exit(2);
        }
      }
    }
  }

  static void waitCluster(AdminClient admin, int brokers, int seconds) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    String last = "no answer";
    while (System.nanoTime() < deadline) {
      try {
        DescribeClusterResult r = admin.describeCluster();
        Collection<Node> nodes = r.nodes().get(5, TimeUnit.SECONDS);
        Node controller = r.controller().get(5, TimeUnit.SECONDS);
        if (nodes.size() >= brokers && controller != null && !controller.isEmpty()) return;
        last = nodes.size() + " of " + brokers + " brokers";
      } catch (Exception e) {
        last = e.toString();
      }
      Thread.sleep(200);
    }
    System.err.println("the cluster did not answer within " + seconds + " s: " + last);
    System.exit(1);
  }

  static void create(AdminClient admin, List<String> specs) throws Exception {
    List<NewTopic> topics = new ArrayList<>();
    for (String spec : specs) {
            String[] f = spec.split(":");
            Optional<Integer> partitions = Optional.of(Integer.parseInt(f[1]));
            Optional<Short> rf = f.length > 2 && !f[2].isEmpty() && !f[2].contains("=")
                ? Optional.of(Short.parseShort(f[2]))
                : Optional.empty();
            NewTopic t = new NewTopic(f[0], partitions, rf);
            Map<String, String> configs = new HashMap<>();
            for (int i = 2; i < f.length; ++i) {
              if (!f[i].contains("="))
                continue;
              for (String kv : f[i].split(",")) {
                String[] pair = kv.split("=", 2);
                configs.put(pair[0], pair[1]);
              }
            }
            topics.add(t.configs(configs));
          }
          for (var e : admin.createTopics(topics).values().entrySet()) {
            try {
              e.getValue().get();
            } catch (ExecutionException ex) {
              if (!(ex.getCause() instanceof TopicExistsException))
                throw ex;
            }
          }
      }

      static void describe(AdminClient admin, List<String> names) throws Exception {
        Map<String, TopicDescription> d = admin.describeTopics(names).allTopicNames().get();
        List<ConfigResource> resources = new ArrayList<>();
        for (String n : names) resources.add(new ConfigResource(ConfigResource.Type.TOPIC, n));
        Map<ConfigResource, Config> configs = admin.describeConfigs(resources).all().get();
        for (String n : names) {
          StringBuilder b = new StringBuilder("{\"topic\":\"").append(n).append("\",\"config\":{");
          boolean first = true;
          for (ConfigEntry e : configs.get(new ConfigResource(ConfigResource.Type.TOPIC, n)).entries()) {
            if (e.source() != ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG)
              continue;
            b.append(first ? "" : ",")
                .append('"')
                .append(e.name())
                .append("\":\"")
                .append(e.value())
                .append('"');
            first = false;
          }
          b.append("},\"partitions\":[");
          first = true;
          for (TopicPartitionInfo pi : d.get(n).partitions()) {
            b.append(first ? "" : ",")
                .append("{\"partition\":")
                .append(pi.partition())
                .append(",\"leader\":")
                .append(pi.leader() == null ? -1 : pi.leader().id())
                .append(",\"replicas\":")
                .append(ids(pi.replicas()))
                .append(",\"isr\":")
                .append(ids(pi.isr()))
                .append('}');
            first = false;
          }
          System.out.println(b.append("]}"));
        }
      }

      static void endOffsets(AdminClient admin, String topic) throws Exception {
        Map<TopicPartition, OffsetSpec> want = new HashMap<>();
        for (TopicPartitionInfo pi :
            admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions())
          want.put(new TopicPartition(topic, pi.partition()), OffsetSpec.latest());
        long sum = 0;
        for (var r : admin.listOffsets(want).all().get().values()) sum += r.offset();
        System.out.println(sum);
      }

      static String ids(List<Node> nodes) {
        StringJoiner j = new StringJoiner(",", "[", "]");
        for (Node n : nodes) j.add(Integer.toString(n.id()));
        return j.toString();
      }

      static void moveLeaders(AdminClient admin, List<String> names) throws Exception {
        Map<String, TopicDescription> d = admin.describeTopics(names).allTopicNames().get();
        Map<TopicPartition, Optional<NewPartitionReassignment>> moves = new HashMap<>();
        for (TopicDescription t : d.values()) {
          for (TopicPartitionInfo pi : t.partitions()) {
            List<Integer> replicas = new ArrayList<>();
            for (Node n : pi.replicas()) replicas.add(n.id());
            if (replicas.size() < 2)
              continue;
            Collections.rotate(replicas, -1); // the next replica becomes the preferred leader
            moves.put(new TopicPartition(t.name(), pi.partition()),
                Optional.of(new NewPartitionReassignment(replicas)));
          }
        }
        admin.alterPartitionReassignments(moves).all().get();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!admin.listPartitionReassignments().reassignments().get().isEmpty()) {
          if (System.nanoTime() > deadline)
            throw new IllegalStateException("reassignment did not finish in 30 s");
          Thread.sleep(100);
        }
        try {
          admin.electLeaders(ElectionType.PREFERRED, moves.keySet()).all().get();
        } catch (ExecutionException e) {
          // ElectionNotNeeded for a partition already led by its preferred replica.
          if (!e.getCause().getClass().getSimpleName().equals("ElectionNotNeededException"))
            throw e;
        }
      }
    }
