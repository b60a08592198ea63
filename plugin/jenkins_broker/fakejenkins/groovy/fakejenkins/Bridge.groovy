// The channel between the Jenkins-shaped classes and the fake Jenkins (Python), which
// keeps every user and token. Not a Jenkins class: jenkins_broker's own.
//
// One JSON document per line, UTF-8, on the JVM's stdin and stdout
// (jenkins_broker/fakejenkins/groovyconsole.py):
//   Python -> JVM  {"op":"run","id":N,"script":...,"auth":...,"fault":...}
//                  {"op":"reply","call":M,"value":...} or {"op":"reply","call":M,"error":{...}}
//   JVM -> Python  {"op":"ready",...} once, {"op":"call","id":N,"call":M,"method":...,"args":{...}}
//                  while script N runs, {"op":"done","id":N,"output":...} when it ends.
// A script runs in a thread of its own; its calls wait for their replies, so several
// scripts may run at once, each call being one atomic step on the fake's state.
package fakejenkins

import groovy.json.JsonOutput

import java.util.concurrent.ArrayBlockingQueue
import java.util.concurrent.BlockingQueue
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicLong

class Bridge {
    private static PrintStream channel
    private static String version
    private static final AtomicLong CALLS = new AtomicLong()
    private static final Map<Long, BlockingQueue<Map>> PENDING = new ConcurrentHashMap<>()
    private static final InheritableThreadLocal<Map> CONTEXT = new InheritableThreadLocal<>()
    private static final Map<String, Class> EXCEPTIONS = [
            'java.io.IOException'                : IOException,
            'java.lang.IllegalArgumentException' : IllegalArgumentException,
            'java.lang.IllegalStateException'    : IllegalStateException,
            'java.lang.NullPointerException'     : NullPointerException,
    ]

    static void open(PrintStream out, String jenkinsVersion) {
        channel = out
        version = jenkinsVersion
    }

    /** The Jenkins version the fake emulates. */
    static String version() {
        return version
    }

    static void send(Map message) {
        String line = JsonOutput.toJson(message)
        synchronized (Bridge) {
            channel.print(line)
            channel.print('\n')
            channel.flush()
        }
    }

    /** A script's LocalDate.now(): the fake's clock if set for this run, else the machine's. */
    static java.time.LocalDate today() {
        Map context = CONTEXT.get()
        String today = context == null ? null : (String) context.today
        return today == null ? java.time.LocalDate.now() : java.time.LocalDate.parse(today)
    }

    /** The script run this thread belongs to: its id, and who runs it. */
    static void enter(Map context) {
        CONTEXT.set(context)
    }

    static void leave() {
        CONTEXT.remove()
    }

    static Map context() {
        Map context = CONTEXT.get()
        if (context == null) {
            throw new IllegalStateException('not called from a script of the script console')
        }
        return context
    }

    /** Ask the fake to do ``method`` on its state; its answer, or the exception it names. */
    static Object call(String method, Map args) {
        Map context = context()
        long number = CALLS.incrementAndGet()
        BlockingQueue<Map> answer = new ArrayBlockingQueue<>(1)
        PENDING.put(number, answer)
        try {
            send([op: 'call', id: context.id, call: number, method: method, args: args])
            Map reply = answer.take()
            if (reply.error != null) {
                Class type = EXCEPTIONS.get(reply.error['class']) ?: IllegalStateException
                throw (Throwable) type.newInstance((String) reply.error.message)
            }
            return reply.value
        } finally {
            PENDING.remove(number)
        }
    }

    static void reply(Map message) {
        BlockingQueue<Map> answer = PENDING.get(((Number) message.call).longValue())
        if (answer != null) {
            answer.offer(message)
        }
    }
}
